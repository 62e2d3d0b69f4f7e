package io.jnora.stats;

import io.jnora.Matrix;
import io.jnora.NonFiniteInputException;
import io.jnora.ShapeMismatchException;
import io.jnora.backend.CpuBackend;
import java.nio.FloatBuffer;
import java.util.Objects;

/**
 * Per-input-channel statistics of calibration activations (SPEC §2.1): over rows {@code X_c (N × n)}
 * streamed in batches of any size, the count N and, per channel j, {@code Σ|x_j|}, {@code Σx_j²} and
 * {@code max|x_j|}, and, when asked for at creation, the second-moment matrix {@code X_cᵀ X_c} from
 * which the covariance {@code C = X_cᵀ X_c / N} is read.
 *
 * <pre>{@code
 * ActivationStats stats = ActivationStats.create(n, true);
 * for (float[] batch : batches) stats.accumulate(batch, batch.length / n);  // host rows
 * stats.accumulate(deviceBatch);                                           // a Matrix, on its backend
 * double[] s = stats.meanAbs();   double[] c = stats.covariance();
 * }</pre>
 *
 * <p>Every sum is kept in float64, and each batch's sums are formed in float64 before they are
 * added (a float squared is exact in double), so streaming, batch order and merging change results
 * only at float64 rounding. Two accumulators {@link #merge merge} exactly (counts and sums add, maxima
 * take the max): statistics can be gathered on several devices or machines. A batch that holds a
 * non-finite value is refused as a whole ({@link NonFiniteInputException}) and leaves the statistics
 * unchanged. Not thread-safe: one accumulator per thread, merged at the end.
 */
public final class ActivationStats {
    private final int channels;
    private long count;
    private final double[] sumAbs;
    private final double[] sumSq;
    private final double[] maxAbs;
    /** Σ XᵀX, n × n row-major; only the upper triangle (i ≤ j) is kept, the lower is built on read. */
    private final double[] gram;

    private ActivationStats(int channels, boolean withCovariance) {
        this.channels = channels;
        this.sumAbs = new double[channels];
        this.sumSq = new double[channels];
        this.maxAbs = new double[channels];
        this.gram = withCovariance ? new double[channels * channels] : null;
    }

    /**
     * Empty statistics for {@code channels} input channels; {@code withCovariance} also keeps the
     * n × n second-moment matrix (8·n² bytes, and an n²-sized product per batch).
     */
    public static ActivationStats create(int channels, boolean withCovariance) {
        if (channels < 1) {
            throw new IllegalArgumentException("ActivationStats.create: channels must be >= 1, got " + channels);
        }
        if (withCovariance && (long) channels * channels > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("ActivationStats.create: a covariance of " + channels + "×" + channels
                    + " does not fit a Java array (channels must be <= 46340 with the covariance)");
        }
        return new ActivationStats(channels, withCovariance);
    }

    /**
     * Adds {@code rowCount} rows of host data, row-major {@code rowCount × channels()}. The whole batch
     * is checked first: a wrong length is a {@link ShapeMismatchException}, a NaN or infinity a
     * {@link NonFiniteInputException} naming the element [row, col]; either leaves the statistics as
     * they were. The covariance, when kept, goes through OpenBLAS {@code dsyrk} in float64.
     */
    public ActivationStats accumulate(float[] rows, int rowCount) {
        Objects.requireNonNull(rows, "rows");
        String operation = "ActivationStats.accumulate";
        if (rowCount < 0) {
            throw new ShapeMismatchException(operation + ": rowCount is " + rowCount + " (must be >= 0)");
        }
        if (rows.length != (long) rowCount * channels) {
            throw new ShapeMismatchException(operation + ": rows holds " + rows.length + " values, expected "
                    + rowCount + "×" + channels + " = " + (long) rowCount * channels + " (rowCount × channels)");
        }
        CpuBackend.columnStatistics(operation, FloatBuffer.wrap(rows), rowCount, channels, sumAbs, sumSq, maxAbs, gram);
        count += rowCount;
        return this;
    }

    /**
     * Adds the rows of a batch already in a context's memory ({@code rows × channels()}), computed on
     * that context's backend: on CUDA one pass over the batch on the device, and only the per-channel
     * sums (n values each) and, with the covariance, the n × n product {@code XᵀX} (formed in float64
     * on the device: the batch widened to double, then cuBLAS {@code Dsyrk}, as the host's {@code dsyrk})
     * come back; the batch itself never does. A non-finite element is a
     * {@link NonFiniteInputException} (on CUDA naming its column only) and adds nothing.
     */
    public ActivationStats accumulate(Matrix batch) {
        Objects.requireNonNull(batch, "batch");
        String operation = "ActivationStats.accumulate(Matrix)";
        if (batch.cols() != channels) {
            throw new ShapeMismatchException(operation + ": batch is " + batch.shape() + ", expected " + channels
                    + " columns (one per input channel)");
        }
        if (batch.isClosed()) {
            throw new IllegalStateException(operation + ": batch " + batch.shape() + " is closed");
        }
        try {
            batch.accumulateColumnStatistics(sumAbs, sumSq, maxAbs, gram);
        } catch (NonFiniteInputException e) {
            throw new NonFiniteInputException(operation + ": " + e.getMessage(), e);
        }
        count += batch.rows();
        return this;
    }

    /**
     * Adds another accumulator's rows into this one, exactly as if they had been accumulated here
     * (counts and sums add, maxima take the max). Both must have the same channels and both keep the
     * covariance or neither, else {@link ShapeMismatchException}. {@code other} is left unchanged.
     */
    public ActivationStats merge(ActivationStats other) {
        Objects.requireNonNull(other, "other");
        if (other.channels != channels || other.hasCovariance() != hasCovariance()) {
            throw new ShapeMismatchException("ActivationStats.merge: " + describeShape() + " and " + other.describeShape()
                    + " cannot merge (same channels, and a covariance in both or neither)");
        }
        for (int j = 0; j < channels; j++) {
            sumAbs[j] += other.sumAbs[j];
            sumSq[j] += other.sumSq[j];
            maxAbs[j] = Math.max(maxAbs[j], other.maxAbs[j]);
        }
        if (gram != null) {
            for (int i = 0; i < channels; i++) {
                for (int j = i; j < channels; j++) {
                    gram[i * channels + j] += other.gram[i * channels + j];
                }
            }
        }
        count += other.count;
        return this;
    }

    /** The number of rows accumulated, N. */
    public long count() {
        return count;
    }

    public int channels() {
        return channels;
    }

    public boolean hasCovariance() {
        return gram != null;
    }

    /** {@code mean|x_j|} per channel (a copy). */
    public double[] meanAbs() {
        requireRows("meanAbs");
        return divided(sumAbs);
    }

    /** {@code mean x_j²} per channel (a copy). */
    public double[] meanSquare() {
        requireRows("meanSquare");
        return divided(sumSq);
    }

    /** {@code sqrt(mean x_j²)} per channel (a copy). */
    public double[] rms() {
        double[] out = meanSquare();
        for (int j = 0; j < channels; j++) {
            out[j] = Math.sqrt(out[j]);
        }
        return out;
    }

    /** {@code max|x_j|} per channel (a copy). */
    public double[] maxAbs() {
        requireRows("maxAbs");
        return maxAbs.clone();
    }

    /**
     * The covariance {@code C = X_cᵀ X_c / N} (uncentred, SPEC §2.1), n × n row-major and symmetric
     * (a copy). {@link IllegalStateException} when the statistics were created without it or are empty.
     */
    public double[] covariance() {
        if (gram == null) {
            throw new IllegalStateException("ActivationStats.covariance: these statistics were created without the "
                    + "covariance; use ActivationStats.create(" + channels + ", true)");
        }
        requireRows("covariance");
        double n = count;
        double[] c = new double[channels * channels];
        for (int i = 0; i < channels; i++) {
            for (int j = i; j < channels; j++) {
                double v = gram[i * channels + j] / n;
                c[i * channels + j] = v;
                c[j * channels + i] = v;
            }
        }
        return c;
    }

    private double[] divided(double[] sums) {
        double[] out = new double[channels];
        for (int j = 0; j < channels; j++) {
            out[j] = sums[j] / count;
        }
        return out;
    }

    private void requireRows(String what) {
        if (count == 0) {
            throw new IllegalStateException("ActivationStats." + what + ": no rows accumulated yet (count is 0), "
                    + "so the statistics are undefined");
        }
    }

    private String describeShape() {
        return channels + " channels " + (gram == null ? "without" : "with") + " covariance";
    }

    @Override
    public String toString() {
        return "ActivationStats[" + describeShape() + ", count " + count + "]";
    }
}
