#!/usr/bin/env bash
# What depending on pipeline-telemetry costs a user's clean build, against
# the peers, in one run: three minimal binaries built in temporary
# directories, each with a fresh target dir (dev profile, default features):
#
#   ours       pipeline-telemetry (path dependency on this workspace),
#              default features: init() + one Stage
#   ours_otlp  the same with feature `otlp` (OTLP over gRPC)
#   ours_http  the same with feature `otlp-http` (OTLP over HTTP/protobuf)
#   metrics  metrics + metrics-exporter-dogstatsd: exporter installed, one
#            counter and one histogram
#   tracing  tracing + tracing-subscriber + tracing-opentelemetry +
#            opentelemetry_sdk + opentelemetry-otlp: OTLP span exporter,
#            one #[instrument] function
#   ddotel   Datadog's datadog-opentelemetry 0.6 (native export to the
#            Agent, the alternative to our own trace intake exporter) with
#            tracing-opentelemetry; it pins opentelemetry =0.33.0, so it
#            cannot share a build with ours (0.33.1)
#
# Our export to the Agent's own trace intake (`TracesExport::Datadog`,
# pipeline-telemetry-otel's `src/native/`) uses std only: it adds no
# package to `ours`, which the line printed after the table checks.
#
# Prints, per crate: packages in the dependency graph (`cargo tree`,
# normal + build edges, each package once), crates compiled, and the wall
# time of `cargo build`. Only crates.io is contacted (to resolve and
# download the peers' crates); the downloads happen in a `cargo fetch`
# before the timed builds.
#
#   scripts/build-cost.sh                # all of them
#   JOBS=2 scripts/build-cost.sh         # cargo -j (default: cargo's own)
#   scripts/build-cost.sh --counts-only  # packages only, no builds
set -euo pipefail
counts_only=0
[ "${1:-}" = --counts-only ] && counts_only=1
ws="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
jobs=(); [ -n "${JOBS:-}" ] && jobs=(-j "$JOBS")

new_crate() { # name, [dependencies] lines, main.rs
    mkdir -p "$tmp/$1/src"
    printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[dependencies]\n%s\n\n[workspace]\n' \
        "$1" "$2" >"$tmp/$1/Cargo.toml"
    printf '%s\n' "$3" >"$tmp/$1/src/main.rs"
}

ours_main=$(cat <<'RS'
use pipeline_telemetry::Stage;

static LOAD: Stage = Stage::new("load");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _telemetry = pipeline_telemetry::init()?;
    let rows = LOAD.run(|| -> Result<u64, std::io::Error> { Ok(42) })?;
    println!("{rows}");
    Ok(())
}
RS
)
new_crate ours "pipeline-telemetry = { path = \"$ws/crates/pipeline-telemetry\" }" "$ours_main"
new_crate ours_otlp "pipeline-telemetry = { path = \"$ws/crates/pipeline-telemetry\", features = [\"otlp\"] }" "$ours_main"
new_crate ours_http "pipeline-telemetry = { path = \"$ws/crates/pipeline-telemetry\", features = [\"otlp-http\"] }" "$ours_main"

new_crate metrics 'metrics = "0.24"
metrics-exporter-dogstatsd = "0.9"' '
fn main() -> Result<(), Box<dyn std::error::Error>> {
    metrics_exporter_dogstatsd::DogStatsDBuilder::default()
        .with_remote_address("127.0.0.1:8125")?
        .install()?;
    let start = std::time::Instant::now();
    metrics::counter!("pipeline.stage.calls", "stage" => "load").increment(1);
    metrics::histogram!("pipeline.stage.duration", "stage" => "load")
        .record(start.elapsed().as_secs_f64());
    Ok(())
}'

new_crate tracing 'tracing = "0.1"
tracing-subscriber = "0.3"
tracing-opentelemetry = "0.34"
opentelemetry = "0.33"
opentelemetry_sdk = "0.33"
opentelemetry-otlp = "0.33"' '
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;

#[tracing::instrument]
fn load() -> u64 {
    42
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("app"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;
    println!("{}", load());
    provider.shutdown()?;
    Ok(())
}'

new_crate ddotel 'datadog-opentelemetry = "0.6"
opentelemetry = "=0.33.0"
opentelemetry_sdk = "=0.33.0"
tracing = "0.1"
tracing-subscriber = "0.3"
tracing-opentelemetry = "0.34"' '
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;

#[tracing::instrument]
fn load() -> u64 {
    42
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = datadog_opentelemetry::tracing().init();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("app"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;
    println!("{}", load());
    provider.shutdown()?;
    Ok(())
}'

printf '%-10s %9s %9s %10s\n' crate packages compiled seconds
for c in ours ours_otlp ours_http metrics tracing ddotel; do
    cd "$tmp/$c"
    # `cargo tree` resolves from the index; only the builds need the sources.
    [ "$counts_only" = 1 ] || cargo fetch -q
    packages=$(cargo tree -e normal,build --prefix none 2>/dev/null \
        | sed 's/ (\*)$//; s/ (proc-macro)$//' | sort -u | wc -l)
    if [ "$counts_only" = 1 ]; then
        printf '%-10s %9s %9s %10s\n' "$c" "$packages" - -
        continue
    fi
    start=$(date +%s.%N)
    compiled=$(CARGO_TARGET_DIR="$tmp/$c/target" cargo build "${jobs[@]}" 2>&1 \
        | grep -c '^ *Compiling ') || true
    end=$(date +%s.%N)
    printf '%-10s %9s %9s %10.1f\n' "$c" "$packages" "$compiled" "$(echo "$end - $start" | bc)"
done

# The native trace intake exporter's own dependencies: those of the otel
# crate's `src/native/` beyond std and what the crate needs anyway.
native_dir="$ws/crates/pipeline-telemetry-otel/src/native"
local_mods=$(ls "$native_dir" | sed 's/\.rs$//' | paste -sd'|')
native_uses=$(grep -rhoE '^use [a-z_]+' "$native_dir" | awk '{print $2}' | sort -u \
    | grep -vE "^(std|super|crate|opentelemetry|opentelemetry_sdk|pipeline_telemetry_catalogue|http|$local_mods)\$" || true)
echo "native trace intake (TracesExport::Datadog): packages of its own: ${native_uses:-none}"
