#!/usr/bin/env python3
"""Checks the output of the F/D guest programs against an exact model.

    python3 tests/guest/fp_check.py tests/guest/fp_{arith,fma,convert,misc}.expected

An independent reference for the expected outputs, which come from QEMU:
every result line of fp_arith, fp_fma, fp_convert and fp_misc (the formats
are described in fptest.h) is recomputed here from its operands with exact
rational arithmetic and the RISC-V rules (canonical NaN, tininess detected
after rounding, NaN-boxing, saturating conversions, ...), value and flags.
Exits non-zero on any difference.  fp_csr and bench_fp are not covered.
"""
import math
import sys
from fractions import Fraction


NV, DZ, OF, UF, NX = 16, 8, 4, 2, 1
RNE, RTZ, RDN, RUP, RMM = range(5)
RMS = {'rne': RNE, 'rtz': RTZ, 'rdn': RDN, 'rup': RUP, 'rmm': RMM}


class Fmt:
    def __init__(self, ebits, fbits, name):
        self.e = ebits
        self.f = fbits
        self.p = fbits + 1
        self.bias = (1 << (ebits - 1)) - 1
        self.emin = 1 - self.bias
        self.emax = self.bias
        self.width = 1 + ebits + fbits
        self.name = name
        self.qnan = ((1 << ebits) - 1) << fbits | (1 << (fbits - 1))
        self.inf = ((1 << ebits) - 1) << fbits
        self.maxf = self.inf - 1
        self.sign = 1 << (self.width - 1)


S = Fmt(8, 23, 's')
D = Fmt(11, 52, 'd')

ONES32 = 0xffffffff00000000


def unbox(fmt, reg):
    """Register image -> value bits of fmt (NaN-boxing check for single)."""
    if fmt is S:
        if (reg >> 32) != 0xffffffff:
            return S.qnan
        return reg & 0xffffffff
    return reg


def box(fmt, bits):
    return bits | ONES32 if fmt is S else bits


def decode(fmt, bits):
    """-> (kind, sign, value) kind in 'snan','qnan','inf','zero','num';
    value = |x| as Fraction for num."""
    sign = bits >> (fmt.width - 1)
    exp = (bits >> fmt.f) & ((1 << fmt.e) - 1)
    frac = bits & ((1 << fmt.f) - 1)
    if exp == (1 << fmt.e) - 1:
        if frac == 0:
            return ('inf', sign, None)
        if frac >> (fmt.f - 1):
            return ('qnan', sign, None)
        return ('snan', sign, None)
    if exp == 0:
        if frac == 0:
            return ('zero', sign, Fraction(0))
        return ('num', sign, Fraction(frac) * Fraction(2) ** (fmt.emin - fmt.f))
    return ('num', sign, Fraction(frac + (1 << fmt.f)) * Fraction(2) ** (exp - fmt.bias - fmt.f))


def isnan(d):
    return d[0] in ('snan', 'qnan')


def pow2(k):
    return Fraction(2) ** k


def ilog2(x):
    """floor(log2(x)) for Fraction x > 0."""
    e = x.numerator.bit_length() - x.denominator.bit_length()
    # adjust
    while pow2(e) > x:
        e -= 1
    while pow2(e + 1) <= x:
        e += 1
    return e


def round_int(x, rm, sign):
    """Round non-negative Fraction x (a magnitude, the true value has sign)
    to an integer magnitude."""
    fl = math.floor(x)
    rem = x - fl
    if rem == 0:
        return fl
    if rm == RTZ:
        return fl
    if rm == RDN:
        return fl + 1 if sign else fl
    if rm == RUP:
        return fl if sign else fl + 1
    half = Fraction(1, 2)
    if rem > half:
        return fl + 1
    if rem < half:
        return fl
    if rm == RNE:
        return fl + (fl & 1)
    return fl + 1  # RMM


def encode(fmt, sign, v):
    """Exact representable magnitude v (Fraction) -> bits."""
    s = sign << (fmt.width - 1)
    if v == 0:
        return s
    e = ilog2(v)
    if e < fmt.emin:
        m = v / pow2(fmt.emin - fmt.f)
        assert m.denominator == 1 and m < (1 << fmt.f)
        return s | int(m)
    m = v / pow2(e - fmt.f)
    assert m.denominator == 1, (v, e)
    m = int(m)
    assert (1 << fmt.f) <= m < (2 << fmt.f)
    assert e <= fmt.emax
    return s | ((e + fmt.bias) << fmt.f) | (m - (1 << fmt.f))


def round_to(fmt, sign, x, rm):
    """Round exact non-zero magnitude x with sign -> (bits, flags).
    Tininess after rounding (RISC-V)."""
    assert x > 0
    e = ilog2(x)
    # rounding with unbounded exponent range
    q = e - fmt.p + 1
    n = round_int(x / pow2(q), rm, sign)
    unb = n * pow2(q)
    if unb >= pow2(fmt.emax + 1):
        # overflow
        to_inf = {RNE: True, RMM: True, RTZ: False,
                  RDN: bool(sign), RUP: not sign}[rm]
        bits = fmt.inf if to_inf else fmt.maxf
        return (bits | (sign << (fmt.width - 1)), OF | NX)
    tiny = unb < pow2(fmt.emin)
    qb = max(e, fmt.emin) - fmt.p + 1
    n = round_int(x / pow2(qb), rm, sign)
    v = n * pow2(qb)
    flags = 0
    if v != x:
        flags |= NX
        if tiny:
            flags |= UF
    return (encode(fmt, sign, v), flags)


def nan_result(fmt, *ds):
    fl = NV if any(d[0] == 'snan' for d in ds) else 0
    return (fmt.qnan, fl)


def signed_value(d):
    return -d[2] if d[1] else d[2]


def from_exact(fmt, v, rm, zero_sign):
    """Round exact Fraction v; if v == 0 use zero_sign."""
    if v == 0:
        return (zero_sign << (fmt.width - 1), 0)
    return round_to(fmt, 1 if v < 0 else 0, abs(v), rm)


def inf_bits(fmt, sign):
    return fmt.inf | (sign << (fmt.width - 1))


def f_add(fmt, a, b, rm, negb=False):
    da, db = decode(fmt, a), decode(fmt, b)
    if negb:
        db = (db[0], db[1] ^ 1, db[2])
    if isnan(da) or isnan(db):
        return nan_result(fmt, da, db)
    if da[0] == 'inf' and db[0] == 'inf':
        if da[1] != db[1]:
            return (fmt.qnan, NV)
        return (inf_bits(fmt, da[1]), 0)
    if da[0] == 'inf':
        return (inf_bits(fmt, da[1]), 0)
    if db[0] == 'inf':
        return (inf_bits(fmt, db[1]), 0)
    if da[0] == 'zero' and db[0] == 'zero':
        zs = da[1] if da[1] == db[1] else (1 if rm == RDN else 0)
        return (zs << (fmt.width - 1), 0)
    v = signed_value(da) + signed_value(db)
    return from_exact(fmt, v, rm, 1 if rm == RDN else 0)


def f_mul(fmt, a, b, rm):
    da, db = decode(fmt, a), decode(fmt, b)
    if isnan(da) or isnan(db):
        return nan_result(fmt, da, db)
    s = da[1] ^ db[1]
    if (da[0] == 'inf' and db[0] == 'zero') or (da[0] == 'zero' and db[0] == 'inf'):
        return (fmt.qnan, NV)
    if da[0] == 'inf' or db[0] == 'inf':
        return (inf_bits(fmt, s), 0)
    if da[0] == 'zero' or db[0] == 'zero':
        return (s << (fmt.width - 1), 0)
    return round_to(fmt, s, da[2] * db[2], rm)


def f_div(fmt, a, b, rm):
    da, db = decode(fmt, a), decode(fmt, b)
    if isnan(da) or isnan(db):
        return nan_result(fmt, da, db)
    s = da[1] ^ db[1]
    if da[0] == 'inf' and db[0] == 'inf':
        return (fmt.qnan, NV)
    if da[0] == 'zero' and db[0] == 'zero':
        return (fmt.qnan, NV)
    if da[0] == 'inf':
        return (inf_bits(fmt, s), 0)
    if db[0] == 'inf':
        return (s << (fmt.width - 1), 0)
    if db[0] == 'zero':
        return (inf_bits(fmt, s), DZ)
    if da[0] == 'zero':
        return (s << (fmt.width - 1), 0)
    return round_to(fmt, s, da[2] / db[2], rm)


def sqrt_frac(x, fmt):
    """A Fraction that rounds like sqrt(x) in fmt (sticky approximation)."""
    k = 1500
    scaled = x * pow2(2 * k)
    n = math.floor(scaled)
    r = math.isqrt(n)
    exact = (Fraction(r * r) == scaled)
    if exact:
        return Fraction(r) / pow2(k)
    return Fraction(2 * r + 1) / pow2(k + 1)


def f_sqrt(fmt, a, rm):
    da = decode(fmt, a)
    if isnan(da):
        return nan_result(fmt, da)
    if da[0] == 'zero':
        return (a, 0)
    if da[1]:
        return (fmt.qnan, NV)
    if da[0] == 'inf':
        return (a, 0)
    return round_to(fmt, 0, sqrt_frac(da[2], fmt), rm)


def f_fma(fmt, a, b, c, rm, negprod, negc):
    da, db, dc = decode(fmt, a), decode(fmt, b), decode(fmt, c)
    inv_prod = (da[0] == 'inf' and db[0] == 'zero') or (da[0] == 'zero' and db[0] == 'inf')
    if isnan(da) or isnan(db) or isnan(dc):
        fl = NV if (any(d[0] == 'snan' for d in (da, db, dc)) or inv_prod) else 0
        return (fmt.qnan, fl)
    if inv_prod:
        return (fmt.qnan, NV)
    ps = da[1] ^ db[1] ^ (1 if negprod else 0)
    cs = dc[1] ^ (1 if negc else 0)
    pinf = da[0] == 'inf' or db[0] == 'inf'
    if pinf and dc[0] == 'inf':
        if ps != cs:
            return (fmt.qnan, NV)
        return (inf_bits(fmt, ps), 0)
    if pinf:
        return (inf_bits(fmt, ps), 0)
    if dc[0] == 'inf':
        return (inf_bits(fmt, cs), 0)
    pzero = da[0] == 'zero' or db[0] == 'zero'
    if pzero and dc[0] == 'zero':
        zs = ps if ps == cs else (1 if rm == RDN else 0)
        return (zs << (fmt.width - 1), 0)
    pv = da[2] * db[2] * (-1 if ps else 1)
    cv = dc[2] * (-1 if cs else 1)
    return from_exact(fmt, pv + cv, rm, 1 if rm == RDN else 0)


def f_cvt_ff(dst, src, a, rm):
    da = decode(src, a)
    if isnan(da):
        return nan_result(dst, da)
    if da[0] == 'inf':
        return (inf_bits(dst, da[1]), 0)
    if da[0] == 'zero':
        return (da[1] << (dst.width - 1), 0)
    return round_to(dst, da[1], da[2], rm)


INT_RANGES = {'w': (-(1 << 31), (1 << 31) - 1), 'wu': (0, (1 << 32) - 1),
              'l': (-(1 << 63), (1 << 63) - 1), 'lu': (0, (1 << 64) - 1)}


def to_reg(ity, n):
    """Integer result -> 64-bit register (32-bit results sign-extended)."""
    if ity in ('w', 'wu'):
        n &= 0xffffffff
        if n >> 31:
            n |= 0xffffffff00000000
        return n
    return n & 0xffffffffffffffff


def f_cvt_if(ity, fmt, a, rm):
    """float -> int register."""
    lo, hi = INT_RANGES[ity]
    d = decode(fmt, a)
    if isnan(d):
        return (to_reg(ity, hi), NV)
    if d[0] == 'inf':
        return (to_reg(ity, lo if d[1] else hi), NV)
    if d[0] == 'zero':
        return (0, 0)
    n = round_int(d[2], rm, d[1])
    n = -n if d[1] else n
    if n < lo:
        return (to_reg(ity, lo), NV)
    if n > hi:
        return (to_reg(ity, hi), NV)
    exact = Fraction(n) == signed_value(d)
    return (to_reg(ity, n), 0 if exact else NX)


def f_cvt_fi(ity, fmt, reg, rm):
    """int register -> float."""
    if ity == 'w':
        v = reg & 0xffffffff
        v = v - (1 << 32) if v >> 31 else v
    elif ity == 'wu':
        v = reg & 0xffffffff
    elif ity == 'l':
        v = reg - (1 << 64) if reg >> 63 else reg
    else:
        v = reg
    return from_exact(fmt, Fraction(v), rm, 0)


def f_class(fmt, a):
    d = decode(fmt, a)
    k, s = d[0], d[1]
    if k == 'snan':
        return 1 << 8
    if k == 'qnan':
        return 1 << 9
    if k == 'inf':
        return 1 << 0 if s else 1 << 7
    if k == 'zero':
        return 1 << 3 if s else 1 << 4
    sub = d[2] < pow2(fmt.emin)
    if s:
        return 1 << 2 if sub else 1 << 1
    return 1 << 5 if sub else 1 << 6


def lt_value(da, db):
    """da < db for non-NaN."""
    def key(d):
        if d[0] == 'inf':
            return Fraction(-10**400) if d[1] else Fraction(10**400)
        return signed_value(d)
    return key(da) < key(db)


def f_minmax(fmt, a, b, ismax):
    da, db = decode(fmt, a), decode(fmt, b)
    fl = NV if (da[0] == 'snan' or db[0] == 'snan') else 0
    if isnan(da) and isnan(db):
        return (fmt.qnan, fl)
    if isnan(da):
        return (b, fl)
    if isnan(db):
        return (a, fl)
    # zeros: -0 < +0
    if da[0] == 'zero' and db[0] == 'zero':
        if ismax:
            return (a if da[1] == 0 else b, 0)
        return (a if da[1] == 1 else b, 0)
    if lt_value(da, db):
        return (b if ismax else a, 0)
    if lt_value(db, da):
        return (a if ismax else b, 0)
    return (a, 0)


def f_cmp(fmt, a, b, op):
    da, db = decode(fmt, a), decode(fmt, b)
    if isnan(da) or isnan(db):
        if op == 'eq':
            fl = NV if (da[0] == 'snan' or db[0] == 'snan') else 0
        else:
            fl = NV
        return (0, fl)
    if op == 'eq':
        if da[0] == 'zero' and db[0] == 'zero':
            return (1, 0)
        return (int(not lt_value(da, db) and not lt_value(db, da)), 0)
    if op == 'lt':
        return (int(lt_value(da, db)), 0)
    return (int(not lt_value(db, da)), 0)


def f_sgnj(fmt, a, b, kind):
    sb = 1 << (fmt.width - 1)
    if kind == 'j':
        s = b & sb
    elif kind == 'jn':
        s = (b & sb) ^ sb
    else:
        s = (a ^ b) & sb
    return ((a & ~sb) | s, 0)


# ---- the checker ----------------------------------------------------------

FLAGCH = {'V': NV, 'Z': DZ, 'O': OF, 'U': UF, 'X': NX}

def pflags(s):
    if s == '-':
        return 0
    v = 0
    for ch in s:
        v |= FLAGCH[ch]
    return v

def fmtof(t):
    return S if t == 's' else D

def parse_val(kind, s):
    v = int(s, 16)
    if kind == 's' and len(s) == 8:
        return v | ONES32
    assert len(s) == 16, s
    return v

def res_fp(fmt, r):
    bits, fl = r
    return (box(fmt, bits), fl)

def model(name, ops, rm):
    """-> (register value, flags)"""
    parts = name.split('.')
    op = parts[0]
    if op in ('fadd', 'fsub', 'fmul', 'fdiv', 'fsqrt', 'fmin', 'fmax', 'feq', 'flt', 'fle',
              'fsgnj', 'fsgnjn', 'fsgnjx', 'fclass',
              'fmadd', 'fmsub', 'fnmadd', 'fnmsub'):
        fmt = fmtof(parts[1])
        a = [unbox(fmt, x) for x in ops]
        if op == 'fadd': return res_fp(fmt, f_add(fmt, a[0], a[1], rm))
        if op == 'fsub': return res_fp(fmt, f_add(fmt, a[0], a[1], rm, negb=True))
        if op == 'fmul': return res_fp(fmt, f_mul(fmt, a[0], a[1], rm))
        if op == 'fdiv': return res_fp(fmt, f_div(fmt, a[0], a[1], rm))
        if op == 'fsqrt': return res_fp(fmt, f_sqrt(fmt, a[0], rm))
        if op == 'fmin': return res_fp(fmt, f_minmax(fmt, a[0], a[1], False))
        if op == 'fmax': return res_fp(fmt, f_minmax(fmt, a[0], a[1], True))
        if op in ('feq', 'flt', 'fle'): return f_cmp(fmt, a[0], a[1], op[1:])
        if op.startswith('fsgnj'): return res_fp(fmt, f_sgnj(fmt, a[0], a[1], op[4:]))
        if op == 'fclass': return (f_class(fmt, a[0]), 0)
        negprod = op in ('fnmadd', 'fnmsub')
        negc = op in ('fmsub', 'fnmadd')
        return res_fp(fmt, f_fma(fmt, a[0], a[1], a[2], rm, negprod, negc))
    if op == 'fcvt':
        dst, src = parts[1], parts[2]
        if dst in 'sd' and src in 'sd':
            sf, df = fmtof(src), fmtof(dst)
            return res_fp(df, f_cvt_ff(df, sf, unbox(sf, ops[0]), rm))
        if src in 'sd':
            sf = fmtof(src)
            return f_cvt_if(dst, sf, unbox(sf, ops[0]), rm)
        df = fmtof(dst)
        return res_fp(df, f_cvt_fi(src, df, ops[0], rm))
    if op == 'fmv':
        dst, src = parts[1], parts[2]
        if name == 'fmv.x.w':
            v = ops[0] & 0xffffffff
            return (v | ONES32 if v >> 31 else v, 0)
        if name == 'fmv.x.d': return (ops[0], 0)
        if name == 'fmv.w.x': return (box(S, ops[0] & 0xffffffff), 0)
        if name == 'fmv.d.x': return (ops[0], 0)
    raise KeyError(name)

def kinds_of(name, nops):
    parts = name.split('.')
    op = parts[0]
    if op == 'fcvt':
        dst, src = parts[1], parts[2]
        k = lambda t: t if t in 'sd' else 'i'
        return [k(src)], k(dst)
    if op == 'fmv':
        dst, src = parts[1], parts[2]
        k = lambda t: 'i' if t == 'x' else ('s' if t == 'w' else 'd')
        return [k(src)], k(dst)
    t = parts[1]
    res = 'i' if op in ('feq', 'flt', 'fle', 'fclass') else t
    return [t] * nops, res

def check_file(path):
    bad = 0; n = 0
    for ln, line in enumerate(open(path), 1):
        line = line.rstrip('\n')
        if ' | rne ' in line:
            head, *segs = line.split(' | ')
            toks = head.split()
            name, ops_s = toks[0], toks[1:]
            okinds, rkind = kinds_of(name, len(ops_s))
            ops = [parse_val(k, s) for k, s in zip(okinds, ops_s)]
            assert segs[-1] == 'dyn ok', line
            for seg in segs[:5]:
                rmn, rv, rf = seg.split()
                got = (parse_val(rkind, rv), pflags(rf))
                exp = model(name, ops, RMS[rmn])
                n += 1
                if got != exp:
                    bad += 1
                    print(f'{path}:{ln}: {name} {rmn}: got {got[0]:x} {rf}, model {exp[0]:x} {exp[1]:02x}\n    {line}')
        elif ' -> ' in line:
            head, tail = line.split(' -> ')
            toks = head.split()
            name, ops_s = toks[0], toks[1:]
            okinds, rkind = kinds_of(name, len(ops_s))
            ops = [parse_val(k, s) for k, s in zip(okinds, ops_s)]
            rv, rf = tail.split()
            got = (parse_val(rkind, rv), pflags(rf))
            exp = model(name, ops, RNE)
            n += 1
            if got != exp:
                bad += 1
                print(f'{path}:{ln}: {name}: got {got[0]:x} {rf}, model {exp[0]:x} {exp[1]:02x}\n    {line}')
    print(f'{path}: {n} results checked, {bad} differ')
    return bad

if __name__ == '__main__':
    sys.exit(1 if sum(check_file(p) for p in sys.argv[1:]) else 0)
