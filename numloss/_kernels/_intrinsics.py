"""LLVM intrinsics for the kernels: bit casts, a read-only view's type, fused multiply-add, IEEE division (used by
``_math.py``'s elementary functions), reassociable adds and NaN-ignoring min/max (the row
kernels' vectorised sums and maxima), and a zero fill with non-temporal stores.

Streaming stores (``stream_fill``) skip the read-for-ownership of every cache line that plain
stores do, so filling an array that will not stay in cache moves half the memory; Numba cannot
express them, so the loop is built in LLVM IR: scalar stores up to 64-byte alignment, 64-byte
vector stores marked ``!nontemporal``, a scalar tail, then a fence (such stores are weakly
ordered).
"""
import platform

from llvmlite import ir
from numba import types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic


_INT_OF_FLOAT = {32: types.int32, 64: types.int64}
_FLOAT_OF_INT = {32: types.float32, 64: types.float64}


@intrinsic
def as_int(typingctx, x):
    """Reinterpret the bits of a float32/float64 as int32/int64."""
    if not isinstance(x, types.Float) or x.bitwidth not in _INT_OF_FLOAT:
        return None
    rt = _INT_OF_FLOAT[x.bitwidth]

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(rt))

    return rt(x), codegen


@intrinsic
def as_float(typingctx, i):
    """Reinterpret the bits of an int32/int64 as float32/float64."""
    if not isinstance(i, types.Integer) or i.bitwidth not in _FLOAT_OF_INT:
        return None
    rt = _FLOAT_OF_INT[i.bitwidth]

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(rt))

    return rt(i), codegen


@intrinsic
def read_only(typingctx, a):
    """The array ``a`` typed read-only (the same array): a scratch array passed where read-only
    inputs are passed elsewhere then shares the callee's one compiled specialisation."""
    if not isinstance(a, types.Array):
        return None
    rt = a.copy(readonly=True)

    def codegen(context, builder, sig, args):
        return impl_ret_borrowed(context, builder, rt, args[0])

    return rt(a), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a*b + c as llvm.fmuladd (fused where the target has FMA)."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        fty = context.get_value_type(sig.return_type)
        fn = builder.module.declare_intrinsic(
            "llvm.fmuladd", [fty], fnty=ir.FunctionType(fty, [fty] * 3))
        return builder.call(fn, list(args))

    return a(a, b, c), codegen


@intrinsic
def fdiv(typingctx, a, b):
    """IEEE a/b with no ZeroDivisionError check (x/0 -> +-inf/NaN)."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fdiv(args[0], args[1])

    return a(a, b), codegen


@intrinsic
def radd(typingctx, a, b):
    """a + b with LLVM's ``reassoc`` flag: a loop accumulating with it may be vectorised (the
    order of the additions is then fixed by the compiled code, the same for every call)."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1], flags=("reassoc", "contract"))

    return a(a, b), codegen


def _minmax(name, flags=()):
    def impl(typingctx, a, b):
        if not (isinstance(a, types.Float) and a == b):
            return None

        def codegen(context, builder, sig, args):
            fty = context.get_value_type(sig.return_type)
            fn = builder.module.declare_intrinsic(name, [fty], fnty=ir.FunctionType(fty, [fty, fty]))
            return builder.call(fn, list(args), fastmath=flags)

        return a(a, b), codegen

    return intrinsic(impl)


fmax = _minmax("llvm.maxnum")  # max ignoring NaN (vectorisable reduction)
fmin = _minmax("llvm.minnum")
# The softmax shift: maxnum without its NaN fix-up (one vmaxps per vector). With a NaN in the
# row it is not the max, but the row's exp-sum is then NaN whatever the shift, as in torch; only
# used in arithmetic, never in a branch (LLVM treats a NaN here as poison).
fmax_shift = _minmax("llvm.maxnum", ("nnan",))

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _stream_loop(context, builder, n, data, scalar_body, vector_body, vl, itemsize):
    i64 = ir.IntType(64)
    fn = builder.function
    addr = builder.ptrtoint(data, i64)
    mis = builder.and_(addr, ir.Constant(i64, 63))
    head = builder.udiv(builder.and_(builder.sub(ir.Constant(i64, 64), mis), ir.Constant(i64, 63)),
                        ir.Constant(i64, itemsize))
    head = builder.select(builder.icmp_unsigned("<", head, n), head, n)

    def loop(start, stop, step, body):
        pre = builder.block
        hdr = fn.append_basic_block()
        bod = fn.append_basic_block()
        end = fn.append_basic_block()
        builder.branch(hdr)
        builder.position_at_end(hdr)
        i = builder.phi(i64)
        i.add_incoming(start, pre)
        builder.cbranch(builder.icmp_signed("<", builder.add(i, ir.Constant(i64, step - 1)), stop), bod, end)
        builder.position_at_end(bod)
        body(i)
        i.add_incoming(builder.add(i, ir.Constant(i64, step)), builder.block)
        builder.branch(hdr)
        builder.position_at_end(end)
        return i

    loop(ir.Constant(i64, 0), head, 1, scalar_body)
    i_vec_end = loop(head, n, vl, vector_body)
    loop(i_vec_end, n, 1, scalar_body)
    if _X86:
        sfence = builder.module.declare_intrinsic("llvm.x86.sse.sfence", fnty=ir.FunctionType(ir.VoidType(), []))
        builder.call(sfence, [])
    else:
        builder.fence("seq_cst")


def _splat(builder, val, vty, vl):
    v = ir.Constant(vty, [ir.Undefined] * vl)
    for k in range(vl):
        v = builder.insert_element(v, val, ir.Constant(ir.IntType(32), k))
    return v


def _is_vec1d(a):
    return isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and isinstance(a.dtype, types.Float)


@intrinsic
def stream_fill(typingctx, dst, val):
    """dst[:] = val with non-temporal stores (an sfence after them on x86, a full fence elsewhere)."""
    if not (_is_vec1d(dst) and val == dst.dtype):
        return None

    def codegen(context, builder, sig, args):
        aty = sig.args[0]
        ary = context.make_array(aty)(context, builder, args[0])
        fty = context.get_value_type(aty.dtype)
        size = aty.dtype.bitwidth // 8
        vl = 64 // size
        vty = ir.VectorType(fty, vl)
        splat = _splat(builder, args[1], vty, vl)
        md = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])

        def scalar(i):
            builder.store(args[1], builder.gep(ary.data, [i]))

        def vector(i):
            st = builder.store(splat, builder.bitcast(builder.gep(ary.data, [i]), vty.as_pointer()), align=64)
            st.set_metadata("nontemporal", md)

        _stream_loop(context, builder, ary.nitems, ary.data, scalar, vector, vl, size)
        return context.get_dummy_value()

    return types.none(dst, val), codegen
