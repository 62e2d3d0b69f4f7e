package io.jnora.model;

import io.jnora.JnoraException;
import io.jnora.OnnxFormatException;
import io.jnora.ShapeMismatchException;
import io.jnora.onnx.OnnxDataType;
import io.jnora.onnx.OnnxGraph;
import io.jnora.onnx.OnnxModel;
import io.jnora.onnx.OnnxNode;
import io.jnora.onnx.OnnxTensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The weights of a BERT encoder, taken from the initializers of its ONNX export (Hugging Face
 * transformers via torch.onnx, as the embedded bge-small-en-v1.5), in torch's layout.
 *
 * <p>How the ONNX file maps onto layers: every linear layer is a {@code MatMul} node whose second input
 * is a 2-D initializer stored <em>in × out</em> (X·W, the transpose of torch.nn.Linear's out × in, so it
 * is transposed here), followed by an {@code Add} of the bias initializer; the node's name is the
 * module path ({@code /encoder/layer.3/attention/self/query/MatMul} is the linear layer
 * {@code encoder.layer.3.attention.self.query}). Embedding tables and layer norms keep their torch
 * parameter names ({@code embeddings.word_embeddings.weight}, {@code encoder.layer.3.output.LayerNorm.weight}).
 * The heads come from the graph's reshape to (batch, seq, heads, head_dim), the layer-norm epsilon from
 * the constant added to the variance. Anything else is an {@link OnnxFormatException} naming the part.
 *
 * <p>Thread safety: immutable in structure; its arrays are returned as they are (not copied), so it may be shared
 * by many threads and encoders as long as nobody writes to them.
 */
public final class BertWeights {
    /** The six linear layers of a block, by the suffix of their module path, in the block's order. */
    public static final List<String> LINEAR_SUFFIXES = List.of("attention.self.query", "attention.self.key",
            "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense");

    /** A linear layer: W (out × in, row-major, as torch.nn.Linear) and its bias. */
    public record Linear(String name, int outFeatures, int inFeatures, float[] weight, float[] bias) {}

    /** Layer-norm scale γ and shift β. */
    public record Norm(float[] gamma, float[] beta) {}

    /** One transformer block. */
    public record Layer(Linear query, Linear key, Linear value, Linear attentionOutput, Linear intermediate,
            Linear output, Norm attentionNorm, Norm outputNorm) {
        /** The six linear layers in the order of {@link #LINEAR_SUFFIXES}. */
        public List<Linear> linears() {
            return List.of(query, key, value, attentionOutput, intermediate, output);
        }
    }

    private static final Pattern LINEAR_NAME = Pattern.compile("encoder\\.layer\\.(\\d+)\\.(.+)");

    private final BertConfig config;
    private final float[] wordEmbeddings;
    private final float[] positionEmbeddings;
    private final float[] tokenTypeEmbeddings;
    private final Norm embeddingNorm;
    private final List<Layer> layers;

    private BertWeights(BertConfig config, float[] wordEmbeddings, float[] positionEmbeddings, float[] tokenTypeEmbeddings,
            Norm embeddingNorm, List<Layer> layers) {
        this.config = config;
        this.wordEmbeddings = wordEmbeddings;
        this.positionEmbeddings = positionEmbeddings;
        this.tokenTypeEmbeddings = tokenTypeEmbeddings;
        this.embeddingNorm = embeddingNorm;
        this.layers = layers;
    }

    /**
     * Weights given directly (e.g. a small random encoder for tests), checked against the config: tables
     * vocabulary × hidden, maxPositions × hidden and tokenTypes × hidden, one {@link Layer} per layer with
     * the linear shapes of a BERT block, and heads dividing hidden.
     */
    public static BertWeights of(BertConfig config, float[] wordEmbeddings, float[] positionEmbeddings,
            float[] tokenTypeEmbeddings, Norm embeddingNorm, List<Layer> layers) {
        int h = config.hidden();
        String op = "BertWeights.of";
        if (config.heads() < 1 || h % config.heads() != 0) {
            throw new ShapeMismatchException(op + ": " + config.heads() + " heads do not divide hidden " + h);
        }
        requireLength(op, "word embeddings", wordEmbeddings, (long) config.vocabularySize() * h);
        requireLength(op, "position embeddings", positionEmbeddings, (long) config.maxPositions() * h);
        requireLength(op, "token type embeddings", tokenTypeEmbeddings, (long) config.tokenTypes() * h);
        requireLength(op, "embedding norm γ", embeddingNorm.gamma(), h);
        requireLength(op, "embedding norm β", embeddingNorm.beta(), h);
        if (layers.size() != config.layers()) {
            throw new ShapeMismatchException(op + ": " + layers.size() + " layers for a config of " + config.layers());
        }
        int[][] shapes = {{h, h}, {h, h}, {h, h}, {h, h}, {config.intermediate(), h}, {h, config.intermediate()}};
        for (Layer l : layers) {
            List<Linear> linears = l.linears();
            for (int k = 0; k < shapes.length; k++) {
                Linear lin = linears.get(k);
                if (lin.outFeatures() != shapes[k][0] || lin.inFeatures() != shapes[k][1]) {
                    throw new ShapeMismatchException(op + ": linear layer " + lin.name() + " is "
                            + lin.outFeatures() + "×" + lin.inFeatures() + ", expected " + shapes[k][0] + "×" + shapes[k][1]);
                }
                requireLength(op, lin.name() + " weight", lin.weight(), (long) lin.outFeatures() * lin.inFeatures());
                requireLength(op, lin.name() + " bias", lin.bias(), lin.outFeatures());
            }
            for (Norm n : List.of(l.attentionNorm(), l.outputNorm())) {
                requireLength(op, "layer norm γ", n.gamma(), h);
                requireLength(op, "layer norm β", n.beta(), h);
            }
        }
        return new BertWeights(config, wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings, embeddingNorm,
                List.copyOf(layers));
    }

    private static void requireLength(String op, String what, float[] values, long expected) {
        if (values.length != expected) {
            throw new ShapeMismatchException(op + ": " + what + " holds " + values.length + " values, expected "
                    + expected);
        }
    }

    /** Reads the weights of a BERT encoder from its ONNX graph (see the class comment for the mapping). */
    public static BertWeights fromOnnx(OnnxModel model) {
        OnnxGraph g = model.graph();
        String file = model.file();
        OnnxTensor wordTable = g.initializer("embeddings.word_embeddings.weight");
        if (wordTable == null || wordTable.rank() != 2) {
            throw fail(file, "initializer embeddings.word_embeddings.weight " + (wordTable == null ? "is missing" : "is not 2-D"));
        }
        if (wordTable.dims()[0] < 1 || wordTable.dims()[1] < 1) {
            throw fail(file, "initializer embeddings.word_embeddings.weight is " + java.util.Arrays.toString(wordTable.dims())
                    + ": a vocabulary and a hidden size of at least 1 are needed");
        }
        int vocab = (int) wordTable.dims()[0];  // both fit an int: their product was checked against the file
        int hidden = (int) wordTable.dims()[1];
        float[] word = matrix(file, g, "embeddings.word_embeddings.weight", vocab, hidden);
        float[] position = matrix(file, g, "embeddings.position_embeddings.weight", -1, hidden);
        float[] tokenType = matrix(file, g, "embeddings.token_type_embeddings.weight", -1, hidden);
        int maxPositions = (int) g.initializer("embeddings.position_embeddings.weight").dims()[0];
        int tokenTypes = (int) g.initializer("embeddings.token_type_embeddings.weight").dims()[0];
        if (maxPositions < 1 || tokenTypes < 1) {
            throw fail(file, "the position and token type tables hold " + maxPositions + " and " + tokenTypes
                    + " rows; at least 1 of each is needed");
        }
        Norm embNorm = norm(file, g, "embeddings.LayerNorm", hidden);

        Map<String, OnnxNode> producers = new HashMap<>();
        Map<String, List<OnnxNode>> consumers = new HashMap<>();
        for (OnnxNode n : g.nodes()) {
            for (String out : n.outputs()) {
                producers.put(out, n);
            }
            for (String in : n.inputs()) {
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            }
        }
        Map<Integer, Map<String, Linear>> byLayer = new java.util.TreeMap<>();
        Map<String, String> weightUsers = new HashMap<>();
        for (OnnxNode n : g.nodes()) {
            if (!n.opType().equals("MatMul") || n.inputs().size() != 2 || g.initializer(n.inputs().get(1)) == null) {
                continue;
            }
            // each linear layer has its own weight; a shared one would be decoded once per node, so a small
            // file naming one large weight many times could allocate far more than it holds
            String previous = weightUsers.putIfAbsent(n.inputs().get(1), n.name());
            if (previous != null) {
                throw fail(file, "MatMul nodes " + previous + " and " + n.name() + " share the weight " + n.inputs().get(1)
                        + "; each linear layer of a BERT encoder has its own");
            }
            Linear linear = linear(file, g, n, consumers);
            Matcher m = LINEAR_NAME.matcher(linear.name());
            if (!m.matches() || !LINEAR_SUFFIXES.contains(m.group(2))) {
                throw fail(file, "MatMul node " + n.name() + " with weight " + n.inputs().get(1)
                        + " is not one of a BERT block's linear layers " + LINEAR_SUFFIXES);
            }
            if (m.group(1).length() > 9) {
                throw fail(file, "MatMul node " + n.name() + " names encoder layer " + m.group(1) + ", beyond any encoder");
            }
            Map<String, Linear> block = byLayer.computeIfAbsent(Integer.parseInt(m.group(1)), k -> new LinkedHashMap<>());
            if (block.put(m.group(2), linear) != null) {
                throw fail(file, "two MatMul nodes map to the linear layer " + linear.name());
            }
        }
        if (byLayer.isEmpty()) {
            throw fail(file, "no MatMul node with a weight initializer: not a BERT encoder");
        }
        List<Layer> layers = new ArrayList<>();
        int intermediate = -1;
        for (var e : byLayer.entrySet()) {
            int i = e.getKey();
            if (i != layers.size()) {
                throw fail(file, "encoder layer " + layers.size() + " is missing (found layer " + i + ")");
            }
            Map<String, Linear> b = e.getValue();
            for (String suffix : LINEAR_SUFFIXES) {
                if (!b.containsKey(suffix)) {
                    throw fail(file, "encoder layer " + i + " has no linear layer " + suffix);
                }
            }
            Linear inter = b.get("intermediate.dense");
            if (intermediate < 0) {
                intermediate = inter.outFeatures();
                if (intermediate < 1) {
                    throw fail(file, "linear layer " + inter.name() + " has no output features");
                }
            }
            requireShape(file, b.get("attention.self.query"), hidden, hidden);
            requireShape(file, b.get("attention.self.key"), hidden, hidden);
            requireShape(file, b.get("attention.self.value"), hidden, hidden);
            requireShape(file, b.get("attention.output.dense"), hidden, hidden);
            requireShape(file, inter, intermediate, hidden);
            requireShape(file, b.get("output.dense"), hidden, intermediate);
            String prefix = "encoder.layer." + i + ".";
            layers.add(new Layer(b.get("attention.self.query"), b.get("attention.self.key"), b.get("attention.self.value"),
                    b.get("attention.output.dense"), inter, b.get("output.dense"),
                    norm(file, g, prefix + "attention.output.LayerNorm", hidden), norm(file, g, prefix + "output.LayerNorm", hidden)));
        }
        int erfNodes = (int) g.nodes().stream().filter(n -> n.opType().equals("Erf")).count();
        if (erfNodes != layers.size()) {
            throw fail(file, "expected one Erf node per layer (BERT's exact GELU), found " + erfNodes + " for "
                    + layers.size() + " layers");
        }
        int heads = heads(file, g, producers, hidden);
        float eps = scalarConstant(file, g, producers, "/embeddings/LayerNorm/Add", 1);
        BertConfig config = new BertConfig(layers.size(), hidden, heads, intermediate, vocab, maxPositions, tokenTypes, eps);
        return new BertWeights(config, word, position, tokenType, embNorm, Collections.unmodifiableList(layers));
    }

    /** The MatMul node's weight (transposed to out × in) and the bias of the Add that consumes its output. */
    private static Linear linear(String file, OnnxGraph g, OnnxNode matmul, Map<String, List<OnnxNode>> consumers) {
        String nodeName = matmul.name();
        if (!nodeName.startsWith("/") || !nodeName.endsWith("/MatMul") || nodeName.length() <= "/MatMul".length()
                || matmul.outputs().size() != 1) {
            throw fail(file, "MatMul node \"" + nodeName + "\" is not named /module/path/MatMul with one output, so its"
                    + " layer is unknown");
        }
        String name = nodeName.substring(1, nodeName.length() - "/MatMul".length()).replace('/', '.');
        OnnxTensor w = g.initializer(matmul.inputs().get(1));
        if (w.rank() != 2 || w.dataType() != OnnxDataType.FLOAT) {
            throw fail(file, "weight " + w.name() + " of " + name + " is " + w.dataType() + " " + java.util.Arrays.toString(w.dims())
                    + ", expected a 2-D FLOAT matrix");
        }
        int in = (int) w.dims()[0];
        int out = (int) w.dims()[1];
        float[] stored = w.toFloatArray();  // in × out
        float[] weight = new float[stored.length];
        for (int i = 0; i < in; i++) {
            for (int o = 0; o < out; o++) {
                weight[o * in + i] = stored[i * out + o];
            }
        }
        OnnxTensor bias = null;
        for (OnnxNode add : consumers.getOrDefault(matmul.outputs().get(0), List.of())) {
            if (add.opType().equals("Add")) {
                for (String input : add.inputs()) {
                    OnnxTensor t = g.initializer(input);
                    if (t != null) {
                        bias = t;
                    }
                }
            }
        }
        if (bias == null || bias.rank() != 1 || bias.dims()[0] != out) {
            throw fail(file, "linear layer " + name + " has no bias of " + out + " values added to its MatMul output");
        }
        if (!bias.name().equals(name + ".bias")) {
            throw fail(file, "linear layer " + name + " is followed by the bias " + bias.name() + ", expected " + name + ".bias");
        }
        return new Linear(name, out, in, weight, bias.toFloatArray());
    }

    /** Heads: the constant dims (heads, head_dim) of the first self-attention's reshape. */
    private static int heads(String file, OnnxGraph g, Map<String, OnnxNode> producers, int hidden) {
        for (OnnxNode n : g.nodes()) {
            if (n.opType().equals("Reshape") && n.name().startsWith("/encoder/layer.0/attention/self/") && n.inputs().size() == 2) {
                OnnxNode concat = producers.get(n.inputs().get(1));
                if (concat != null && concat.opType().equals("Concat") && concat.inputs().size() == 4) {
                    long heads = constantValue(g, producers, concat.inputs().get(2));
                    long headDim = constantValue(g, producers, concat.inputs().get(3));
                    if (heads > 0 && headDim > 0 && heads <= hidden && headDim <= hidden && heads * headDim == hidden) {
                        return (int) heads;
                    }
                    throw fail(file, "the attention reshape " + n.name() + " splits hidden " + hidden + " into " + heads
                            + " × " + headDim);
                }
            }
        }
        throw fail(file, "no reshape to (batch, seq, heads, head_dim) in /encoder/layer.0/attention/self/: heads unknown");
    }

    private static long constantValue(OnnxGraph g, Map<String, OnnxNode> producers, String value) {
        OnnxTensor t = g.initializer(value);
        OnnxNode c = producers.get(value);
        if (t == null && c != null && c.opType().equals("Constant") && c.attribute("value") != null) {
            t = c.attribute("value").t();
        }
        if (t == null || t.elementCount() != 1) {
            return -1;
        }
        return t.dataType() == OnnxDataType.FLOAT ? (long) t.toFloatArray()[0] : t.toLongArray()[0];
    }

    /** The scalar float constant that is input {@code index} of the named node. */
    private static float scalarConstant(String file, OnnxGraph g, Map<String, OnnxNode> producers, String node, int index) {
        for (OnnxNode n : g.nodes()) {
            if (n.name().equals(node) && n.inputs().size() > index) {
                OnnxNode c = producers.get(n.inputs().get(index));
                if (c != null && c.opType().equals("Constant") && c.attribute("value") != null
                        && c.attribute("value").t() != null && c.attribute("value").t().elementCount() == 1) {
                    return c.attribute("value").t().toFloatArray()[0];
                }
                OnnxTensor t = g.initializer(n.inputs().get(index));
                if (t != null && t.elementCount() == 1) {
                    return t.toFloatArray()[0];
                }
            }
        }
        throw fail(file, "node " + node + " with a constant input " + index + " (the layer-norm epsilon) not found");
    }

    private static void requireShape(String file, Linear l, int out, int in) {
        if (l.outFeatures() != out || l.inFeatures() != in) {
            throw fail(file, "linear layer " + l.name() + " is " + l.outFeatures() + "×" + l.inFeatures() + ", expected "
                    + out + "×" + in);
        }
    }

    private static float[] matrix(String file, OnnxGraph g, String name, int rows, int cols) {
        OnnxTensor t = g.initializer(name);
        if (t == null || t.rank() != 2 || t.dims()[1] != cols || (rows >= 0 && t.dims()[0] != rows)) {
            throw fail(file, "initializer " + name + (t == null ? " is missing" : " is "
                    + java.util.Arrays.toString(t.dims()) + ", expected [" + (rows < 0 ? "?" : rows) + ", " + cols + "]"));
        }
        return t.toFloatArray();
    }

    private static Norm norm(String file, OnnxGraph g, String prefix, int hidden) {
        return new Norm(vector(file, g, prefix + ".weight", hidden), vector(file, g, prefix + ".bias", hidden));
    }

    private static float[] vector(String file, OnnxGraph g, String name, int length) {
        OnnxTensor t = g.initializer(name);
        if (t == null || t.rank() != 1 || t.dims()[0] != length) {
            throw fail(file, "initializer " + name + (t == null ? " is missing" : " is "
                    + java.util.Arrays.toString(t.dims()) + ", expected [" + length + "]"));
        }
        return t.toFloatArray();
    }

    private static OnnxFormatException fail(String file, String what) {
        return new OnnxFormatException("ONNX file " + file + ": not a supported BERT encoder: " + what);
    }

    public BertConfig config() {
        return config;
    }

    /** vocabulary × hidden. */
    public float[] wordEmbeddings() {
        return wordEmbeddings;
    }

    /** maxPositions × hidden. */
    public float[] positionEmbeddings() {
        return positionEmbeddings;
    }

    /** tokenTypes × hidden. */
    public float[] tokenTypeEmbeddings() {
        return tokenTypeEmbeddings;
    }

    public Norm embeddingNorm() {
        return embeddingNorm;
    }

    public List<Layer> layers() {
        return layers;
    }

    /** Every linear layer in depth order (6 per block), named by its module path. */
    public List<Linear> linearLayers() {
        List<Linear> all = new ArrayList<>();
        for (Layer l : layers) {
            all.addAll(l.linears());
        }
        return all;
    }

    /** A linear layer by module path. */
    public Linear linear(String name) {
        for (Layer l : layers) {
            for (Linear lin : l.linears()) {
                if (lin.name().equals(name)) {
                    return lin;
                }
            }
        }
        throw new JnoraException("BertWeights: no linear layer '" + name + "'");
    }

    /** Name → weight (out × in) of every linear layer, in depth order (what AdapterSet.load takes). */
    public Map<String, float[]> linearWeights() {
        Map<String, float[]> m = new LinkedHashMap<>();
        for (Linear l : linearLayers()) {
            m.put(l.name(), l.weight());
        }
        return m;
    }
}
