package io.jnora.cli;

import io.jnora.NonFiniteInputException;
import io.jnora.ShapeMismatchException;
import io.jnora.io.Dtype;
import io.jnora.io.SafetensorsFile;
import io.jnora.io.TensorInfo;
import io.jnora.io.TensorRef;
import java.util.Arrays;

/** Reading the commands' FILE#TENSOR inputs with their shapes checked, naming the option and file. */
final class TensorInputs {
    /** The most elements a weight may have: what one Java array holds (the host keeps W as a float[]). */
    static final long MAX_WEIGHT_ELEMENTS = Integer.MAX_VALUE - 8;

    private TensorInputs() {}

    /** A weight (out × in) with the tensor's name and dtype, to write a result back alike. */
    record Weight(String name, Dtype dtype, int m, int n, float[] values) {}

    /** Rows of width n; {@code shape} keeps the leading dimensions (the last is n). */
    record Rows(long[] shape, int rows, float[] values) {}

    static Weight weight(String command, String option, String ref) {
        TensorRef tensorRef = TensorRef.parse(ref);
        try (SafetensorsFile f = SafetensorsFile.open(tensorRef.file())) {
            TensorInfo info = tensorRef.resolve(f);
            if (info.rank() != 2) {
                throw new ShapeMismatchException(command + ": " + option + " " + ref + " has shape "
                        + Arrays.toString(info.shape()) + ", expected 2 dimensions (out × in)");
            }
            long[] shape = info.shape();
            // Checked before any narrowing or allocation: a valid file may hold [0, 2^40] with no data.
            if (shape[0] < 1 || shape[1] < 1 || shape[0] > Integer.MAX_VALUE || shape[1] > Integer.MAX_VALUE
                    || info.elementCount() > MAX_WEIGHT_ELEMENTS) {
                throw new ShapeMismatchException(command + ": " + option + " " + ref + " has shape " + Arrays.toString(shape)
                        + ", expected out × in with each dimension in [1, " + Integer.MAX_VALUE + "] and at most "
                        + MAX_WEIGHT_ELEMENTS + " elements (one Java array)");
            }
            int m = (int) shape[0];
            int n = (int) shape[1];
            return new Weight(info.name(), info.dtype(), m, n, finite(command, option, ref, f.readFloats(info.name()), n));
        }
    }

    static Rows rows(String command, String option, String ref, int width, String widthReason) {
        TensorRef tensorRef = TensorRef.parse(ref);
        try (SafetensorsFile f = SafetensorsFile.open(tensorRef.file())) {
            TensorInfo info = tensorRef.resolve(f);
            long[] shape = info.shape();
            if (info.rank() < 1 || shape[shape.length - 1] != width) {
                throw new ShapeMismatchException(command + ": " + option + " " + ref + " has shape " + Arrays.toString(shape)
                        + " but " + widthReason + " (the last dimension must be " + width + ")");
            }
            float[] values = finite(command, option, ref, f.readFloats(info.name()), width);
            return new Rows(shape, values.length / width, values);
        }
    }

    /** The values, unless one is NaN or infinite: refused here, where the option and the file can be named (SPEC §1). */
    private static float[] finite(String command, String option, String ref, float[] values, int width) {
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) {
                throw new NonFiniteInputException(command + ": " + option + " " + ref + " element [" + i / width + ", "
                        + i % width + "] is " + values[i] + " (inputs must be finite)");
            }
        }
        return values;
    }

    /** Integer indices (int32/int64/...) of a tensor, one per row. */
    static long[] indices(String command, String option, String ref, int rows) {
        TensorRef tensorRef = TensorRef.parse(ref);
        try (SafetensorsFile f = SafetensorsFile.open(tensorRef.file())) {
            TensorInfo info = tensorRef.resolve(f);
            if (info.elementCount() != rows) {
                throw new ShapeMismatchException(command + ": " + option + " " + ref + " holds " + info.elementCount()
                        + " indices for " + rows + " input rows");
            }
            return f.readLongs(info.name());
        }
    }
}
