package io.jnora;

import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * A dense row-major matrix in a context's memory: host native memory on the CPU backend, device
 * memory on the CUDA backend; float32, or 2-byte bfloat16/float16 ({@link Precision}), which only
 * the operations that say so accept (the others refuse it with a {@link ShapeMismatchException}). It has one owner: whoever created it closes it (closing the
 * context frees whatever is still open). Every write through the API bumps a version, which is how
 * a layer notices that an inner factor changed.
 *
 * <p>Thread safety: not thread-safe; a matrix belongs to its context, which is confined to one thread at a time.
 */
public final class Matrix implements AutoCloseable {
    private final NoraContext context;
    private final int rows;
    private final int cols;
    private final Precision precision;
    private FloatPointer memory;  // half precisions: ceil(size / 2) floats holding 2-byte elements
    private long version;

    Matrix(NoraContext context, int rows, int cols, FloatPointer memory) {
        this(context, rows, cols, Precision.FLOAT32, memory);
    }

    Matrix(NoraContext context, int rows, int cols, Precision precision, FloatPointer memory) {
        this.context = context;
        this.rows = rows;
        this.cols = cols;
        this.precision = precision;
        this.memory = memory;
    }

    public Precision precision() {
        return precision;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    public long size() {
        return (long) rows * cols;
    }

    /** "rows×cols", as shapes appear in error messages. */
    public String shape() {
        return rows + "×" + cols;
    }

    public Backend backend() {
        return context.selection().chosen();
    }

    public boolean isClosed() {
        return memory == null;
    }

    /** Whether this matrix was made by {@code context} (operations refuse to mix contexts). */
    public boolean belongsTo(NoraContext context) {
        return this.context == context;
    }

    /** A copy of the contents in a new array (synchronises with the device). */
    public float[] toArray() {
        float[] out = new float[Math.toIntExact(size())];
        copyTo(out);
        return out;
    }

    /** Copies the contents into {@code destination}, which must hold exactly rows·cols values. */
    public void copyTo(float[] destination) {
        Checks.requireLength("Matrix.copyTo", "destination", destination.length, this);
        if (precision.isHalf()) {
            short[] bits = new short[destination.length];
            context.backend().downloadHalf(storage(), size(), bits);
            for (int i = 0; i < bits.length; i++) {
                destination[i] = precision.widen(bits[i]);
            }
            return;
        }
        context.backend().download(pointer(), size(), destination, 0);
    }

    /** Replaces the contents; the values must be finite. */
    public void copyFrom(float[] source) {
        Checks.requireLength("Matrix.copyFrom", "source", source.length, this);
        Checks.requireFinite("Matrix.copyFrom", "source", source, cols);
        if (precision.isHalf()) {
            context.backend().uploadHalf(narrow(source, precision), storage(), size());
        } else {
            context.backend().upload(source, 0, pointer(), size());
        }
        markModified();
    }

    /** The values rounded to a half precision, as its 16-bit patterns. */
    static short[] narrow(float[] values, Precision precision) {
        short[] bits = new short[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = precision.narrow(values[i]);
        }
        return bits;
    }

    /** Replaces the contents from the buffer's remaining values (left unchanged); they must be finite. */
    public void copyFrom(FloatBuffer source) {
        if (precision.isHalf()) {
            float[] values = new float[source.remaining()];
            source.duplicate().get(values);
            copyFrom(values);
            return;
        }
        Checks.requireLength("Matrix.copyFrom", "source", source.remaining(), this);
        Checks.requireFinite("Matrix.copyFrom", "source", source, cols);
        context.backend().upload(source, pointer(), size());
        markModified();
    }

    /**
     * Activation statistics of this matrix's rows added into float64 totals, computed where the
     * matrix lives (SPEC §2.1). This is the bridge {@link io.jnora.stats.ActivationStats#accumulate(Matrix)}
     * uses; prefer that class. Per column j: {@code sumAbs[j] += Σ_t |x|}, {@code sumSq[j] += Σ_t x²},
     * {@code maxAbs[j]} max-merged with {@code max_t |x|}; when {@code gram} is not null, XᵀX is added
     * into its upper triangle (cols×cols row-major; the lower triangle is not touched). On a device
     * only these values come back, never the matrix. All or nothing: a non-finite element is a
     * {@link NonFiniteInputException} and nothing is added.
     */
    public void accumulateColumnStatistics(double[] sumAbs, double[] sumSq, double[] maxAbs, double[] gram) {
        String operation = "Matrix.accumulateColumnStatistics";
        Checks.requireLength(operation, "sumAbs", sumAbs.length, 1, cols);
        Checks.requireLength(operation, "sumSq", sumSq.length, 1, cols);
        Checks.requireLength(operation, "maxAbs", maxAbs.length, 1, cols);
        if (gram != null) {
            Checks.requireLength(operation, "gram", gram.length, cols, cols);
        }
        context.backend().columnStatistics(rows, cols, pointer(), sumAbs, sumSq, maxAbs, gram);
    }

    /** The float32 memory; a half-precision matrix is refused (the operation takes FLOAT32). */
    FloatPointer pointer() {
        FloatPointer m = storage();
        if (precision != Precision.FLOAT32) {
            throw new ShapeMismatchException("matrix " + shape() + " is " + precision
                    + ": this operation takes FLOAT32 matrices");
        }
        return m;
    }

    /**
     * The memory whatever the precision (2-byte elements packed in floats for halves). Every use of a
     * matrix's memory comes through here, so a step being captured or replayed notes the matrix
     * (first, so that a closed one is named by the refusal: {@link NoraContext#capture}).
     */
    FloatPointer storage() {
        context.noteUse(this);
        if (memory == null) {
            throw new IllegalStateException("matrix " + shape() + " is closed");
        }
        return memory;
    }

    NoraContext context() {
        return context;
    }

    long version() {
        return version;
    }

    void markModified() {
        version++;
    }

    @Override
    public void close() {
        if (memory != null) {
            FloatPointer m = memory;
            memory = null;
            context.release(this, m);
        }
    }

    @Override
    public String toString() {
        return "Matrix[" + shape() + ", " + backend().name().toLowerCase()
                + (precision == Precision.FLOAT32 ? "" : ", " + precision) + (isClosed() ? ", closed]" : "]");
    }
}
