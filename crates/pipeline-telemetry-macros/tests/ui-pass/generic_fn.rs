//! `#[instrument_stage]` on generic functions: type parameters, trait
//! bounds, `where` clauses, lifetimes, `impl Trait` in argument position and
//! in the return type.
use std::fmt::Display;

use pipeline_telemetry::instrument_stage;

#[instrument_stage]
fn render<T: Display>(items: &[T]) -> Result<Vec<String>, std::io::Error> {
    Ok(items.iter().map(ToString::to_string).collect())
}

#[instrument_stage]
fn first<'a, T>(items: &'a [T]) -> Option<&'a T>
where
    T: Clone,
{
    items.first()
}

#[instrument_stage]
async fn total<I: IntoIterator<Item = u32> + Send>(items: I) -> Result<u32, std::io::Error> {
    Ok(items.into_iter().sum())
}

#[instrument_stage]
fn evens(items: impl IntoIterator<Item = u32>) -> impl Iterator<Item = u32> {
    items
        .into_iter()
        .filter(|n| n % 2 == 0)
        .collect::<Vec<_>>()
        .into_iter()
}

fn main() {
    assert_eq!(render(&[1, 2]).unwrap(), ["1", "2"]);
    assert_eq!(first(&["a", "b"]), Some(&"a"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(total(vec![1, 2, 3])).unwrap(), 6);
    assert_eq!(evens([1, 2, 3, 4]).collect::<Vec<_>>(), [2, 4]);
}
