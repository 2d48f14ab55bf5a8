//! Mann-Whitney U test with the Hodges-Lehmann shift and its confidence interval, computed as
//! R's `wilcox.test(x, y, conf.int = TRUE, correct = TRUE)` does (two-sided):
//!
//! - without ties and with both samples under 50, the exact distribution of U (`pwilcox`,
//!   `qwilcox`), and the interval from the order statistics of the pairwise differences;
//! - otherwise the normal approximation with tie correction and continuity correction, and the
//!   interval where R's `wdiff` step function crosses the normal quantile. R finds that point
//!   with `uniroot(tol = 1e-4)`; here it is located exactly (bisection to the jump).
//!
//! The estimate is the Hodges-Lehmann estimator, the median of all pairwise differences
//! (R reports the same in the exact case). `tests/fixtures/mann_whitney.json` holds R's values
//! and the command that produced them.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Exact,
    Normal,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// U of the first sample (R's `W`): pairs where x > y, ties counting a half.
    pub u: f64,
    pub p_value: f64,
    pub method: Method,
    /// Hodges-Lehmann estimate of the shift x − y.
    pub estimate: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("a sample is empty")]
    Empty,
    #[error("a sample holds a value that is not a finite number")]
    NotFinite,
    #[error("all values are tied; the comparison has no variance")]
    NoVariance,
    #[error("the values are too far apart for their differences to be finite numbers")]
    TooLarge,
}

/// Two-sided Mann-Whitney U test of `x` against `y` with a `confidence` interval for x − y.
pub fn mann_whitney(x: &[f64], y: &[f64], confidence: f64) -> Result<MannWhitney, StatsError> {
    if x.is_empty() || y.is_empty() {
        return Err(StatsError::Empty);
    }
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return Err(StatsError::NotFinite);
    }
    let mut xs = x.to_vec();
    let mut ys = y.to_vec();
    xs.sort_unstable_by(f64::total_cmp);
    ys.sort_unstable_by(f64::total_cmp);
    let (m, n) = (xs.len(), ys.len());
    // Every pairwise difference lies between these two; both must be finite to order them.
    if !(xs[0] - ys[n - 1]).is_finite() || !(xs[m - 1] - ys[0]).is_finite() {
        return Err(StatsError::TooLarge);
    }
    let (rank_sum, ties) = rank_sum_and_ties(&xs, &ys, 0.0);
    let u = rank_sum - (m * (m + 1)) as f64 / 2.0;
    let alpha = 1.0 - confidence;
    let estimate = hodges_lehmann(&xs, &ys);
    if m < 50 && n < 50 && ties == 0.0 {
        let dist = WilcoxonDistribution::new(m, n);
        let half = (m * n) as f64 / 2.0;
        let p = if u > half { 1.0 - dist.cdf(u - 1.0) } else { dist.cdf(u) };
        let mut qu = dist.quantile(alpha / 2.0);
        if qu == 0 {
            qu = 1;
        }
        let ql = m * n - qu;
        // R: c(diffs[qu], diffs[ql + 1]) with 1-based indexes into the sorted differences.
        let ci_low = kth_difference(&xs, &ys, qu);
        let ci_high = kth_difference(&xs, &ys, ql + 1);
        return Ok(MannWhitney { u, p_value: (2.0 * p).min(1.0), method: Method::Exact, estimate, ci_low, ci_high, confidence });
    }
    let sigma = tie_corrected_sigma(m, n, ties);
    if sigma == 0.0 {
        return Err(StatsError::NoVariance);
    }
    let z0 = u - (m * n) as f64 / 2.0;
    let z = (z0 - 0.5 * sign(z0)) / sigma;
    let p_value = (2.0 * normal_cdf(-z.abs())).min(1.0);
    let zq = normal_quantile(1.0 - alpha / 2.0);
    let ci_low = wdiff_root(&xs, &ys, zq);
    let ci_high = wdiff_root(&xs, &ys, -zq);
    Ok(MannWhitney { u, p_value, method: Method::Normal, estimate, ci_low, ci_high, confidence })
}

fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Rank sum of `x − shift` among `x − shift` and `y` (mid-ranks for ties), and the tie term
/// Σ(t³ − t) over tie groups. Both inputs are sorted ascending.
fn rank_sum_and_ties(xs: &[f64], ys: &[f64], shift: f64) -> (f64, f64) {
    let (mut i, mut j) = (0, 0);
    let mut position = 0usize;
    let mut rank_sum = 0.0;
    let mut ties = 0.0;
    while i < xs.len() || j < ys.len() {
        let next_x = xs.get(i).map(|v| v - shift);
        let value = match (next_x, ys.get(j)) {
            (Some(a), Some(&b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        let (mut from_x, mut from_y) = (0usize, 0usize);
        while xs.get(i).is_some_and(|v| v - shift == value) {
            from_x += 1;
            i += 1;
        }
        while ys.get(j).is_some_and(|v| *v == value) {
            from_y += 1;
            j += 1;
        }
        let group = from_x + from_y;
        // Ranks position+1 ..= position+group share their mean.
        let mid_rank = position as f64 + (group as f64 + 1.0) / 2.0;
        rank_sum += mid_rank * from_x as f64;
        if group > 1 {
            ties += (group as f64).powi(3) - group as f64;
        }
        position += group;
    }
    (rank_sum, ties)
}

fn tie_corrected_sigma(m: usize, n: usize, ties: f64) -> f64 {
    let (mf, nf) = (m as f64, n as f64);
    let total = mf + nf;
    let tie_term = ties / (total * (total - 1.0));
    ((mf * nf / 12.0) * ((total + 1.0) - tie_term)).max(0.0).sqrt()
}

/// Where R's `wdiff(·, zq)` crosses zero: the continuity- and tie-corrected z of x − d against y,
/// minus zq, is a non-increasing step function of d with jumps at the pairwise differences.
/// Between jumps no x − d equals a y, so only ties within each sample remain and the variance
/// is constant; wdiff then depends on d only through A(d) = #{differences ≤ d}, and crosses zero
/// at the a*-th smallest difference, a* being the least A with wdiff ≤ 0. (R's checks of the two
/// ends, `mumin` and `mumax`, give the first and last differences, which this yields as well.)
fn wdiff_root(xs: &[f64], ys: &[f64], zq: f64) -> f64 {
    let (m, n) = (xs.len(), ys.len());
    let total = m * n;
    let sigma = tie_corrected_sigma(m, n, within_sample_ties(xs) + within_sample_ties(ys));
    let crossed = |a: usize| {
        let dz = (total - a) as f64 - total as f64 / 2.0;
        (dz - 0.5 * sign(dz)) / sigma - zq <= 0.0
    };
    let (mut lo, mut hi) = (0usize, total);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if crossed(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    kth_difference(xs, ys, lo.max(1))
}

/// Σ(t³ − t) over groups of equal values in a sorted sample.
fn within_sample_ties(sorted: &[f64]) -> f64 {
    sorted.chunk_by(|a, b| a == b).map(|group| group.len() as f64).filter(|t| *t > 1.0).map(|t| t.powi(3) - t).sum()
}

/// Number of pairwise differences x − y that are ≤ d (both sorted). Every function here
/// compares the computed `x − y` with the threshold, so counts and enumerations agree exactly.
fn count_at_most(xs: &[f64], ys: &[f64], d: f64) -> usize {
    // For each x, the ys with x − y ≤ d form a suffix; as x grows the suffix starts later.
    let mut j = 0;
    let mut count = 0;
    for &x in xs {
        while j < ys.len() && x - ys[j] > d {
            j += 1;
        }
        count += ys.len() - j;
    }
    count
}

/// The k-th smallest (1-based) pairwise difference x − y, exactly: bisect on the value until
/// few differences remain in the bracket, then select among them.
pub fn kth_difference(xs: &[f64], ys: &[f64], k: usize) -> f64 {
    let (m, n) = (xs.len(), ys.len());
    let k = k.clamp(1, m * n);
    let (mut lo, mut hi) = (xs[0] - ys[n - 1], xs[m - 1] - ys[0]);
    let mut below = count_at_most(xs, ys, lo);
    if below >= k {
        return lo;
    }
    let mut upto = m * n;
    while upto - below > 64 {
        let mid = lo + (hi - lo) / 2.0;
        // Also stops on a NaN midpoint (a bracket of infinite differences) instead of looping.
        if !(mid > lo && mid < hi) {
            break;
        }
        let count = count_at_most(xs, ys, mid);
        if count >= k {
            hi = mid;
            upto = count;
        } else {
            lo = mid;
            below = count;
        }
    }
    // The differences in (lo, hi], in order; the answer is among them.
    let mut window = Vec::with_capacity(upto - below);
    for &x in xs {
        let start = ys.partition_point(|&y| x - y > hi);
        let end = ys.partition_point(|&y| x - y > lo);
        window.extend(ys[start..end].iter().map(|&y| x - y));
    }
    window.sort_unstable_by(f64::total_cmp);
    window.get(k - below - 1).copied().unwrap_or(hi)
}

/// Median of all pairwise differences x − y.
pub fn hodges_lehmann(xs: &[f64], ys: &[f64]) -> f64 {
    let total = xs.len() * ys.len();
    if total % 2 == 1 {
        return kth_difference(xs, ys, total / 2 + 1);
    }
    let lower = kth_difference(xs, ys, total / 2);
    // The next order statistic is `lower` again if it repeats, else the next larger difference.
    let upper = if count_at_most(xs, ys, lower) > total / 2 { lower } else { next_difference_above(xs, ys, lower) };
    (lower + upper) / 2.0
}

/// The smallest pairwise difference greater than `d`.
fn next_difference_above(xs: &[f64], ys: &[f64], d: f64) -> f64 {
    let mut best = f64::INFINITY;
    for &x in xs {
        // ys[..at] have x − y > d; the last of them gives the smallest such difference.
        let at = ys.partition_point(|&y| x - y > d);
        if let Some(&y) = at.checked_sub(1).and_then(|j| ys.get(j)) {
            best = best.min(x - y);
        }
    }
    best
}

/// The exact null distribution of U for sample sizes m and n (R's `cwilcox`).
struct WilcoxonDistribution {
    /// Cumulative probabilities P(U ≤ u), u = 0 ..= m·n.
    cumulative: Vec<f64>,
}

impl WilcoxonDistribution {
    fn new(m: usize, n: usize) -> Self {
        // Generating function ∏_{i=1..m} (1 − q^{n+i}) / (1 − q^i); counts fit f64 for m, n < 50.
        let size = m * n + 1;
        let mut counts = vec![0.0f64; size];
        counts[0] = 1.0;
        for i in 1..=m {
            for k in (n + i..size).rev() {
                counts[k] -= counts[k - n - i];
            }
            for k in i..size {
                counts[k] += counts[k - i];
            }
        }
        let total: f64 = counts.iter().sum();
        let mut running = 0.0;
        let cumulative = counts
            .iter()
            .map(|c| {
                running += c;
                running / total
            })
            .collect();
        Self { cumulative }
    }

    /// P(U ≤ u).
    fn cdf(&self, u: f64) -> f64 {
        if u < 0.0 {
            return 0.0;
        }
        let index = (u.floor() as usize).min(self.cumulative.len() - 1);
        self.cumulative[index]
    }

    /// R's `qwilcox(p)` for p ≤ 0.5: the smallest q with P(U ≤ q) ≥ p (less 10 machine epsilons).
    fn quantile(&self, p: f64) -> usize {
        let target = p - 10.0 * f64::EPSILON;
        self.cumulative.iter().position(|c| *c >= target).unwrap_or(self.cumulative.len() - 1)
    }
}

/// Standard normal CDF.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal quantile (Acklam's approximation refined by two Halley steps).
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] =
        [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
    const B: [f64; 5] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] =
        [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let low = 0.02425;
    let mut x = if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    for _ in 0..2 {
        let e = normal_cdf(x) - p;
        let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
        x -= u / (1.0 + x * u / 2.0);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_functions_match_known_values() {
        assert!((normal_quantile(0.99) - 2.326347874040841).abs() < 1e-12);
        assert!((normal_quantile(0.5)).abs() < 1e-15);
        assert!((normal_cdf(1.96) - 0.9750021048517795).abs() < 1e-15);
    }

    #[test]
    fn kth_difference_is_exact_on_large_samples() {
        let xs: Vec<f64> = (0..100).map(|i| f64::from(i) * 1.5).collect();
        let ys: Vec<f64> = (0..90).map(|i| f64::from(i) * 0.7 + 0.1).collect();
        let mut all: Vec<f64> = xs.iter().flat_map(|x| ys.iter().map(move |y| x - y)).collect();
        all.sort_by(f64::total_cmp);
        for k in [1, 2, 17, 4500, 8999, 9000] {
            assert_eq!(kth_difference(&xs, &ys, k), all[k - 1], "k={k}");
        }
    }

    #[test]
    fn rejects_what_it_cannot_judge() {
        assert_eq!(mann_whitney(&[], &[1.0], 0.98), Err(StatsError::Empty));
        assert_eq!(mann_whitney(&[f64::NAN], &[1.0], 0.98), Err(StatsError::NotFinite));
        assert_eq!(mann_whitney(&[1.0; 60], &[1.0; 60], 0.98), Err(StatsError::NoVariance));
        assert_eq!(mann_whitney(&[f64::MAX, 1.0], &[-f64::MAX, 2.0], 0.98), Err(StatsError::TooLarge));
    }

    #[test]
    fn kth_difference_ends_on_differences_that_overflow() {
        // Differences of ±inf used to make the bisection's midpoint NaN and loop for ever.
        let sample: Vec<f64> = std::iter::once(-f64::MAX).chain((1..19).map(f64::from)).chain(std::iter::once(f64::MAX)).collect();
        let k = kth_difference(&sample, &sample, 200);
        assert!(!k.is_nan(), "{k}");
    }
}
