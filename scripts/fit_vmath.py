"""Fits the polynomial coefficients of native/cpu/vmath.h and reports their float32 error.

Run: python3 scripts/fit_vmath.py  (numpy + mpmath). Each fit is a weighted least-squares fit on
Chebyshev nodes (close to minimax), done in float64; the error is then measured by evaluating the
float32 formula exactly as vmath.h does, against mpmath at 50 digits.
"""
import numpy as np
import mpmath as mp

mp.mp.dps = 50
f32 = np.float32


def cheb_nodes(a, b, n):
    k = np.arange(n)
    return 0.5 * (a + b) + 0.5 * (b - a) * np.cos(np.pi * (k + 0.5) / n)


def fit(fun, a, b, basis, n=4000, rel=True):
    """Least squares for sum c_i * basis_i(x) ~ fun(x), relative weights when rel."""
    x = cheb_nodes(a, b, n)
    y = np.array([float(fun(mp.mpf(float(v)))) for v in x])
    A = np.stack([bf(x) for bf in basis], axis=1)
    w = 1.0 / np.abs(y) if rel else np.ones_like(y)
    c, *_ = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)
    return c


def horner32(coeffs, t):
    r = f32(coeffs[-1])
    for c in coeffs[-2::-1]:
        r = f32(r * t + f32(c))
    return r


def report(name, xs, approx, exact):
    err = 0.0
    worst = None
    for x in xs:
        x = f32(x)
        e = float(exact(mp.mpf(float(x))))
        a = float(approx(f32(x)))
        if e == 0:
            continue
        r = abs(a - e) / abs(e)
        if r > err:
            err, worst = r, x
    print(f"{name}: max relative error {err:.3g} at x={worst}")


def show(name, c):
    print(f"{name} = {{" + ", ".join(f"{float(f32(v))!r}f" for v in c) + "}")


# exp(r) on |r| <= ln2/2: 1 + r + r^2 * P(r), P of degree 4.
LN2 = np.log(2.0)
cexp = fit(lambda r: (mp.exp(r) - 1 - r) / r**2 if r != 0 else mp.mpf(0.5), -LN2 / 2, LN2 / 2,
           [lambda x, i=i: x**i for i in range(5)])
show("kExpP", cexp)


def exp32(x):
    x = f32(min(max(x, f32(-104.0)), f32(88.7228)))
    n = np.rint(f32(x * f32(1.4426950408889634)))
    r = f32(f32(x - f32(n * f32(0.693145751953125))) - f32(n * f32(1.428606765330187e-06)))
    p = f32(f32(1) + r + f32(f32(r * r) * horner32(cexp, r)))
    n = int(n)
    h = n >> 1
    return f32(f32(p * f32(2.0) ** h) * f32(2.0) ** (n - h))


report("exp", np.linspace(-87, 88, 200001), exp32, mp.exp)

# log(1+f) for f in [sqrt(.5)-1, sqrt(2)-1]: f - f^2/2 + f^3 * P(f), P of degree 6.
clog = fit(lambda f: (mp.log(1 + f) - f + f**2 / 2) / f**3 if f != 0 else mp.mpf(1) / 3,
           np.sqrt(0.5) - 1, np.sqrt(2) - 1, [lambda x, i=i: x**i for i in range(7)])
show("kLogP", clog)


def log32(x):
    m, e = np.frexp(np.float64(x))  # m in [0.5, 1)
    m = f32(m)
    if m < f32(0.70710678):
        m = f32(m * 2)
        e -= 1
    f = f32(m - 1)
    p = f32(f32(f - f32(f32(0.5) * f32(f * f))) + f32(f32(f32(f * f) * f) * horner32(clog, f)))
    return f32(p + f32(f32(e) * f32(0.693145751953125)) + f32(f32(e) * f32(1.428606765330187e-06)))


report("log", np.exp(np.linspace(-80, 80, 200001)), log32, mp.log)

# tanh(x) = x + x^3 * P(x^2) for |x| < 0.625, P of degree 4.
ctanh = fit(lambda x: (mp.tanh(mp.sqrt(x)) - mp.sqrt(x)) / mp.sqrt(x) ** 3 if x > 0 else -mp.mpf(1) / 3,
            0, 0.625**2, [lambda t, i=i: t**i for i in range(5)])
show("kTanhP", ctanh)
report("tanh small", np.linspace(1e-4, 0.625, 100001),
       lambda x: f32(x + f32(f32(f32(x * x) * x) * horner32(ctanh, f32(x * x)))), mp.tanh)

# erf(x) = x * P(x^2) for |x| < 0.8, P of degree 6.
cerf = fit(lambda t: mp.erf(mp.sqrt(t)) / mp.sqrt(t) if t > 0 else 2 / mp.sqrt(mp.pi), 0, 0.64,
           [lambda t, i=i: t**i for i in range(7)])
show("kErfP", cerf)
report("erf small", np.linspace(1e-4, 0.8, 100001), lambda x: f32(x * horner32(cerf, f32(x * x))), mp.erf)

# erfc(x) = exp(-x^2) / x * R(1/x) for 0.8 <= x <= 10, R of degree 10 in u = 1/x.
cerfc = fit(lambda u: mp.erfc(1 / u) * mp.exp(1 / u**2) / u, 0.1, 1.25,
            [lambda u, i=i: u**i for i in range(11)])
show("kErfcR", cerfc)


def erfc32(x):
    u = f32(f32(1) / x)
    return f32(f32(exp32(f32(-f32(x * x))) * u) * horner32(cerfc, u))


report("erfc", np.linspace(0.8, 9.5, 100001), erfc32, mp.erfc)


# GELU: Q(a) exp(a^2/2), Q(a) = erfc(a / sqrt 2) / 2, for 0 <= a <= 14 as a rational P4(a) / Q5(a)
# (Q5(0) = 1): linearised weighted least squares P - S Q = 0, reweighted by 1 / (S Q_prev) until the
# relative error settles (close to minimax; float64 error ~7e-9, float32 evaluation ~3e-7).
def fit_gauss_tail(m=4, n=5, a=0.0, b=14.0, nodes=3000):
    x = cheb_nodes(a, b, nodes)
    s = np.array([float(0.5 * mp.erfc(mp.mpf(float(v)) / mp.sqrt(2)) * mp.exp(mp.mpf(float(v)) ** 2 / 2)) for v in x])
    qprev = np.ones_like(x)
    for _ in range(12):
        w = 1.0 / (s * qprev)
        cols = [x**i for i in range(m + 1)] + [-s * x**j for j in range(1, n + 1)]
        sol, *_ = np.linalg.lstsq(np.stack(cols, 1) * w[:, None], s * w, rcond=None)
        p, q = sol[: m + 1], np.concatenate([[1.0], sol[m + 1:]])
        qprev = np.polyval(q[::-1], x)
    return p, q


cgp, cgq = fit_gauss_tail()
show("kGaussTailP", cgp)
show("kGaussTailQ", cgq)


def gelu32(x):
    a = f32(abs(x))
    q = f32(exp32(f32(f32(-0.5) * f32(a * a))) * f32(horner32(cgp, min(a, f32(14))) / horner32(cgq, min(a, f32(14)))))
    return f32(x * (q if x < 0 else f32(1) - q))


report("gelu", np.linspace(-9, 9, 100001), gelu32, lambda v: v * (1 + mp.erf(v / mp.sqrt(2))) / 2)
