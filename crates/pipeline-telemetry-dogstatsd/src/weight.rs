//! Integer sample weights, written as the `|@rate` the Datadog Agent turns
//! back into exactly that weight.
//!
//! The Agent counts a distribution value sent with `|@rate r` as
//! `int64(1 / r)`: the rate is parsed as a float64 (`strconv.ParseFloat`
//! in `comp/dogstatsd/server/impl/parse.go`), and
//! `pkg/aggregator/sketch_map.go` hands it to `quantile.Agent.Insert`
//! (DataDog/opentelemetry-mapping-go `pkg/quantile/agent.go`), which
//! computes `n := 1 / sampleRate` in float64 and adds `int64(n)` to the
//! sketch's count (`Summary.InsertN`) and `uint(n)` to its bin: truncated,
//! per value. A weight `w` is therefore carried exactly only by a rate
//! whose float64 reciprocal lies in `[w, w + 1)`. `1.0 / w` is not always
//! such a rate: for about one weight in thirteen its reciprocal comes back
//! one ulp below `w` (`@0.010101010101010102`, the float64 nearest 1/99,
//! comes back as 98.99999999999999), which the Agent truncates to `w - 1`.
//! Such a rate is nudged down an ulp at a time until its reciprocal is at
//! least `w` (one step suffices in practice; `sum` then gains at most an
//! ulp per value); the rate is written with the shortest decimal that
//! parses back to the same float64, so the Agent reads the very rate
//! checked here.

/// The rate whose `int64(1 / rate)`, in float64 arithmetic, is `weight`
/// (1 for weights 0 and 1, which are sent without `|@rate`). Weights are
/// sample counts: below 2^53, where every integer is a float64.
pub(crate) fn rate_for_weight(weight: u64) -> f64 {
    if weight <= 1 {
        return 1.0;
    }
    let w = weight as f64;
    let mut rate = 1.0 / w;
    // The reciprocal of the correctly rounded 1/w is within an ulp or two
    // of w: a few steps always reach [w, w + 1).
    for _ in 0..8 {
        let n = 1.0 / rate;
        if n < w {
            // Positive and normal: the next float64 down is one bit below.
            rate = f64::from_bits(rate.to_bits() - 1);
        } else if n >= w + 1.0 {
            rate = f64::from_bits(rate.to_bits() + 1);
        } else {
            break;
        }
    }
    rate
}

/// What the Agent counts for one value sent at `rate`: `int64(1 / rate)`,
/// with the Agent's bounds (a rate outside `(0, 1]` counts as 1).
#[cfg(test)]
pub(crate) fn agent_count(rate: f64) -> u64 {
    if rate <= 0.0 || rate > 1.0 || rate.is_nan() {
        return 1;
    }
    // Saturating, like Go's conversion on amd64 for the values that occur.
    (1.0 / rate) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_weight_survives_the_agents_truncation() {
        let mut nudged = 0;
        for w in (1..300_000u64).chain((1..2_000).map(|i| i * 9_973_331)) {
            let rate = rate_for_weight(w);
            // What the Agent reads: the shortest decimal that round-trips.
            let wire = ryu::Buffer::new().format_finite(rate).to_owned();
            let read: f64 = wire.parse().expect("a float");
            assert_eq!(read, rate, "{wire}");
            assert_eq!(agent_count(read), w, "weight {w} written as @{wire}");
            if rate != 1.0 / w as f64 {
                nudged += 1;
            }
        }
        // The float64 nearest 1/99 is one the Agent would count as 98.
        assert_eq!(agent_count(1.0 / 99.0), 98);
        assert_eq!(agent_count(rate_for_weight(99)), 99);
        assert!(nudged > 1000, "{nudged}");
    }

    #[test]
    fn rates_outside_the_agents_bounds_count_once() {
        assert_eq!(agent_count(0.0), 1);
        assert_eq!(agent_count(1.5), 1);
        assert_eq!(agent_count(0.25), 4);
    }
}
