package io.jnora.onnx;

import java.util.List;

/**
 * An {@code AttributeProto}. Scalars and lists are kept ({@code f}, {@code i}, {@code s}, {@code t},
 * {@code floats}, {@code ints}, {@code strings}); sub-graphs are counted, not parsed ({@code graphs}).
 *
 * <p>Thread safety: its arrays are not copied; as the reader makes it (nobody writes to them) it is safe to share
 * between threads.
 */
public record OnnxAttribute(String name, int type, float f, long i, String s, OnnxTensor t, float[] floats, long[] ints,
        List<String> strings, int graphs) {
    public static final int FLOAT = 1;
    public static final int INT = 2;
    public static final int STRING = 3;
    public static final int TENSOR = 4;
    public static final int GRAPH = 5;
    public static final int FLOATS = 6;
    public static final int INTS = 7;
    public static final int STRINGS = 8;
}
