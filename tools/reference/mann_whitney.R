# Reference values for rollgate's Mann-Whitney judge, computed by R.
#
#   Rscript tools/reference/mann_whitney.R > shared/tests/fixtures/mann_whitney.json
#
# statistic, p.value: wilcox.test(x, y, conf.int = TRUE, conf.level = 0.98, correct = TRUE).
# conf_int: wilcox.test's interval when it is exact (no ties, both samples < 50). With ties R
#   approximates: it finds where its `wdiff` step function crosses the normal quantile with
#   uniroot(tol = 1e-4). To compare at 1e-6, `ci_normal` below is that same code with a tolerance
#   of 1e-12; wilcox.test's own interval is kept as `r_conf_int_tol_1e4`.
# estimate: the Hodges-Lehmann estimate, median(outer(x, y, "-")) (what R reports when exact).

ci_normal <- function(x, y, conf.level) {
  n.x <- length(x); n.y <- length(y)
  alpha <- 1 - conf.level
  mumin <- min(x) - max(y); mumax <- max(x) - min(y)
  wdiff <- function(d, zq) {
    dr <- rank(c(x - d, y))
    NTIES.CI <- table(dr)
    dz <- sum(dr[seq_along(x)]) - n.x * (n.x + 1) / 2 - n.x * n.y / 2
    CORRECTION.CI <- sign(dz) * 0.5
    SIGMA.CI <- sqrt((n.x * n.y / 12) * ((n.x + n.y + 1) - sum(NTIES.CI^3 - NTIES.CI) / ((n.x + n.y) * (n.x + n.y - 1))))
    (dz - CORRECTION.CI) / SIGMA.CI - zq
  }
  root <- function(zq) {
    f.lower <- wdiff(mumin, zq); f.upper <- wdiff(mumax, zq)
    if (f.lower <= 0) return(mumin)
    if (f.upper >= 0) return(mumax)
    uniroot(wdiff, lower = mumin, upper = mumax, f.lower = f.lower, f.upper = f.upper, tol = 1e-12, zq = zq)$root
  }
  c(root(qnorm(alpha / 2, lower.tail = FALSE)), root(qnorm(alpha / 2)))
}

num <- function(v) paste(sprintf("%.17g", v), collapse = ", ")

set.seed(20251114)
cases <- list(
  list(name = "wilcox.test help example (ties)", x = c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30), y = c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29)),
  list(name = "three against three", x = c(10, 12, 15), y = c(9, 11, 13)),
  list(name = "one against five", x = c(4.2), y = c(1.1, 2.2, 3.3, 5.5, 6.6)),
  list(name = "complete separation", x = c(101, 102, 103, 104, 105), y = c(1, 2, 3, 4, 5)),
  list(name = "small with ties", x = c(1, 2, 2, 3, 4), y = c(2, 3, 3, 5, 6)),
  list(name = "heavy ties", x = c(1, 1, 1, 2, 2, 3), y = c(1, 2, 2, 2, 3, 3, 3)),
  list(name = "latency 10 vs 10 exact", x = round(rnorm(10, 110, 8), 3), y = round(rnorm(10, 100, 8), 3)),
  list(name = "latency 20 vs 25 exact", x = round(rnorm(20, 250, 30), 4), y = round(rnorm(25, 240, 30), 4)),
  list(name = "error counts with ties", x = rpois(30, 3), y = rpois(30, 2)),
  list(name = "error counts equal rates", x = rpois(40, 5), y = rpois(45, 5)),
  list(name = "49 vs 49 exact", x = round(rnorm(49, 0.5, 0.1), 5), y = round(rnorm(49, 0.45, 0.1), 5)),
  list(name = "60 vs 60 normal", x = round(rnorm(60, 612, 40), 3), y = round(rnorm(60, 580, 40), 3)),
  list(name = "60 vs 60 no shift", x = round(rnorm(60, 300, 25), 3), y = round(rnorm(60, 300, 25), 3)),
  list(name = "60 vs 60 rounded ties", x = round(rnorm(60, 5, 1)), y = round(rnorm(60, 5.4, 1))),
  list(name = "skewed exponential", x = round(rexp(35, 1 / 120), 2), y = round(rexp(30, 1 / 100), 2)),
  list(name = "canary lower", x = round(rnorm(15, 90, 5), 2), y = round(rnorm(15, 100, 5), 2)),
  list(name = "unequal 8 vs 30", x = round(rnorm(8, 1.2, 0.3), 4), y = round(rnorm(30, 1.0, 0.3), 4)),
  list(name = "percent error rate ties", x = round(runif(50, 0, 2), 1), y = round(runif(55, 0, 1.6), 1)),
  list(name = "two samples of two", x = c(3.5, 7.25), y = c(1.75, 4.5)),
  list(name = "negative values", x = c(-5.5, -3.25, -1, 0.5, 2.75, -2), y = c(-6, -4.5, -3.5, -0.25, 1, -7.75, -1.5)),
  list(name = "large n 120 vs 100", x = round(rnorm(120, 52, 6), 2), y = round(rnorm(100, 50, 6), 2)),
  list(name = "zero inflated", x = c(rep(0, 20), rpois(20, 2)), y = c(rep(0, 25), rpois(15, 1)))
)

cat("{\n  \"command\": \"Rscript tools/reference/mann_whitney.R > shared/tests/fixtures/mann_whitney.json\",\n")
cat(sprintf("  \"r_version\": \"%s\",\n  \"confidence\": 0.98,\n  \"cases\": [\n", R.version.string))
for (i in seq_along(cases)) {
  c <- cases[[i]]
  t <- suppressWarnings(wilcox.test(c$x, c$y, conf.int = TRUE, conf.level = 0.98, correct = TRUE))
  exact <- length(unique(c(c$x, c$y))) == length(c(c$x, c$y)) && length(c$x) < 50 && length(c$y) < 50
  ci <- if (exact) as.numeric(t$conf.int) else ci_normal(c$x, c$y, 0.98)
  cat(sprintf("    {\"name\": \"%s\", \"method\": \"%s\",\n     \"x\": [%s],\n     \"y\": [%s],\n", c$name, if (exact) "exact" else "normal", num(c$x), num(c$y)))
  cat(sprintf("     \"statistic\": %s, \"p_value\": %s, \"estimate\": %s,\n", num(t$statistic), num(t$p.value), num(median(outer(c$x, c$y, "-")))))
  cat(sprintf("     \"conf_int\": [%s], \"r_conf_int_tol_1e4\": [%s]}%s\n", num(ci), num(as.numeric(t$conf.int)), if (i < length(cases)) "," else ""))
}
cat("  ]\n}\n")
