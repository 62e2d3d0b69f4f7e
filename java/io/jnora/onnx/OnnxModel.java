package io.jnora.onnx;

import io.jnora.JnoraException;
import io.jnora.OnnxFormatException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An ONNX model file ({@code ModelProto}), read by hand from the protocol-buffers wire format: the
 * graph's nodes, initializers (weights), inputs and outputs, and the model's opset imports.
 *
 * <p>The whole file is held in memory and tensors keep byte ranges of it, decoded on request. Every
 * length, count and element total is checked against the bytes actually present before anything is
 * allocated from it, so a truncated or crafted file is an {@link OnnxFormatException} naming the file,
 * the byte offset and the field, never another exception or an allocation larger than the file.
 * Supported: tensors with raw_data or packed typed data; not supported (refused by name): external data,
 * segmented tensors, groups. Sub-graphs in attributes, sparse initializers, value_info, functions and
 * training info are skipped.
 *
 * <p>Thread safety: immutable and thread-safe once parsed, provided the bytes given to {@link #parse} are not modified.
 */
public final class OnnxModel {
    /** ONNX's own ceiling on a single protobuf file (2 GiB), and a Java array's. */
    public static final int MAX_FILE_BYTES = Integer.MAX_VALUE - 8;
    private static final int MAX_RANK = 64;

    private final String file;
    private final long irVersion;
    private final String producerName;
    private final String producerVersion;
    private final Map<String, Long> opsetImports;
    private final OnnxGraph graph;

    private OnnxModel(String file, long irVersion, String producerName, String producerVersion,
            Map<String, Long> opsetImports, OnnxGraph graph) {
        this.file = file;
        this.irVersion = irVersion;
        this.producerName = producerName;
        this.producerVersion = producerVersion;
        this.opsetImports = opsetImports;
        this.graph = graph;
    }

    /** Reads a model file. */
    public static OnnxModel read(Path path) {
        try {
            long size = Files.size(path);
            if (size > MAX_FILE_BYTES) {
                throw new OnnxFormatException("ONNX file " + path + ": " + size + " bytes exceeds the 2 GiB protobuf limit"
                        + " (models that large keep their weights as external data, which is not supported)");
            }
            return parse(path.toString(), Files.readAllBytes(path));
        } catch (IOException e) {
            throw new JnoraException("cannot read ONNX file " + path + ": " + e.getMessage(), e);
        }
    }

    /** Reads a model from a stream (e.g. a class-path resource); {@code name} names it in messages. */
    public static OnnxModel read(String name, InputStream in) {
        try {
            byte[] bytes = in.readNBytes(MAX_FILE_BYTES);
            if (bytes.length == MAX_FILE_BYTES && in.read() >= 0) {
                throw new OnnxFormatException("ONNX file " + name + ": longer than the 2 GiB protobuf limit");
            }
            return parse(name, bytes);
        } catch (IOException e) {
            throw new JnoraException("cannot read ONNX file " + name + ": " + e.getMessage(), e);
        }
    }

    /** Parses a model held in memory; the tensors keep references into {@code bytes}. */
    public static OnnxModel parse(String name, byte[] bytes) {
        ProtoReader r = new ProtoReader(name, bytes, 0, bytes.length, "ModelProto");
        long irVersion = 0;
        String producerName = "";
        String producerVersion = "";
        Map<String, Long> opsets = new LinkedHashMap<>();
        OnnxGraph graph = null;
        while (r.hasMore()) {
            switch (r.nextField()) {
                case 1 -> irVersion = r.int64("ModelProto.ir_version");
                case 2 -> producerName = r.string("ModelProto.producer_name");
                case 3 -> producerVersion = r.string("ModelProto.producer_version");
                case 7 -> {
                    if (graph != null) {
                        throw r.errorAt(r.fieldStart(), "ModelProto.graph appears twice");
                    }
                    graph = readGraph(r.message("ModelProto.graph"));
                }
                case 8 -> {
                    ProtoReader o = r.message("ModelProto.opset_import[" + opsets.size() + "]");
                    String domain = "";
                    long version = 0;
                    while (o.hasMore()) {
                        switch (o.nextField()) {
                            case 1 -> domain = o.string("OperatorSetIdProto.domain");
                            case 2 -> version = o.int64("OperatorSetIdProto.version");
                            default -> o.skip();
                        }
                    }
                    opsets.put(domain, version);
                }
                default -> r.skip();
            }
        }
        if (graph == null) {
            throw ProtoReader.error(name, bytes.length, "ModelProto", "the file holds no graph (field 7); is it an ONNX model?");
        }
        return new OnnxModel(name, irVersion, producerName, producerVersion, Collections.unmodifiableMap(opsets), graph);
    }

    private static OnnxGraph readGraph(ProtoReader r) {
        String name = "";
        List<OnnxNode> nodes = new ArrayList<>();
        Map<String, OnnxTensor> initializers = new LinkedHashMap<>();
        List<OnnxValueInfo> inputs = new ArrayList<>();
        List<OnnxValueInfo> outputs = new ArrayList<>();
        while (r.hasMore()) {
            switch (r.nextField()) {
                case 1 -> nodes.add(readNode(r.message("GraphProto.node[" + nodes.size() + "]")));
                case 2 -> name = r.string("GraphProto.name");
                case 5 -> {
                    int at = r.position();
                    OnnxTensor t = readTensor(r.message("GraphProto.initializer[" + initializers.size() + "]"));
                    if (initializers.putIfAbsent(t.name(), t) != null) {
                        throw r.errorAt(at, "two initializers are named \"" + shorten(t.name()) + "\"");
                    }
                }
                case 11 -> inputs.add(readValueInfo(r.message("GraphProto.input[" + inputs.size() + "]")));
                case 12 -> outputs.add(readValueInfo(r.message("GraphProto.output[" + outputs.size() + "]")));
                default -> r.skip();
            }
        }
        return new OnnxGraph(name, List.copyOf(nodes), Collections.unmodifiableMap(initializers), List.copyOf(inputs),
                List.copyOf(outputs));
    }

    private static OnnxNode readNode(ProtoReader r) {
        String name = "";
        String opType = "";
        String domain = "";
        List<String> inputs = new ArrayList<>();
        List<String> outputs = new ArrayList<>();
        Map<String, OnnxAttribute> attributes = new LinkedHashMap<>();
        while (r.hasMore()) {
            switch (r.nextField()) {
                case 1 -> inputs.add(r.string("NodeProto.input"));
                case 2 -> outputs.add(r.string("NodeProto.output"));
                case 3 -> name = r.string("NodeProto.name");
                case 4 -> opType = r.string("NodeProto.op_type");
                case 5 -> {
                    int at = r.position();
                    OnnxAttribute a = readAttribute(r.message(r.context() + ".attribute[" + attributes.size() + "]"));
                    if (attributes.putIfAbsent(a.name(), a) != null) {
                        throw r.errorAt(at, "two attributes are named \"" + shorten(a.name()) + "\"");
                    }
                }
                case 7 -> domain = r.string("NodeProto.domain");
                default -> r.skip();
            }
        }
        return new OnnxNode(name, opType, domain, List.copyOf(inputs), List.copyOf(outputs),
                Collections.unmodifiableMap(attributes));
    }

    private static OnnxAttribute readAttribute(ProtoReader r) {
        String name = "";
        int type = 0;
        float f = 0;
        long i = 0;
        String s = null;
        OnnxTensor t = null;
        ProtoReader.FloatList floats = new ProtoReader.FloatList();
        ProtoReader.LongList ints = new ProtoReader.LongList();
        List<String> strings = new ArrayList<>();
        int graphs = 0;
        while (r.hasMore()) {
            switch (r.nextField()) {
                case 1 -> name = r.string("AttributeProto.name");
                case 2 -> f = r.float32("AttributeProto.f");
                case 3 -> i = r.int64("AttributeProto.i");
                case 4 -> {
                    ProtoReader.Slice b = r.bytes("AttributeProto.s");
                    // bytes in the format; names and modes in practice: kept as ISO-8859-1 so no byte is lost
                    s = new String(r.data(), b.offset(), b.length(), java.nio.charset.StandardCharsets.ISO_8859_1);
                }
                case 5 -> t = readTensor(r.message(r.context() + ".t"));
                case 6, 11 -> {
                    r.skip();
                    graphs++;
                }
                case 7 -> r.repeatedFloat("AttributeProto.floats", floats);
                case 8 -> r.repeatedInt64("AttributeProto.ints", ints);
                case 9 -> strings.add(r.string("AttributeProto.strings"));
                case 20 -> type = r.int32("AttributeProto.type");
                default -> r.skip();
            }
        }
        return new OnnxAttribute(name, type, f, i, s, t, floats.toArray(), ints.toArray(), List.copyOf(strings), graphs);
    }

    private static OnnxTensor readTensor(ProtoReader r) {
        String name = "";
        ProtoReader.LongList dims = new ProtoReader.LongList();
        int dataType = 0;
        OnnxTensor.Storage storage = OnnxTensor.Storage.NONE;
        ProtoReader.Slice data = null;
        int unsupportedField = 0;
        int start = r.position();
        while (r.hasMore()) {
            int field = r.nextField();
            switch (field) {
                case 1 -> {
                    r.repeatedInt64("TensorProto.dims", dims);
                    if (dims.size() > MAX_RANK) {
                        throw r.errorAt(r.fieldStart(), "TensorProto.dims: more than " + MAX_RANK + " dimensions");
                    }
                }
                case 2 -> dataType = r.int32("TensorProto.data_type");
                case 3 -> throw r.errorAt(r.fieldStart(), "TensorProto.segment: segmented tensors are not supported");
                case 8 -> name = r.string("TensorProto.name");
                case 13 -> throw r.errorAt(r.fieldStart(), "TensorProto.external_data: tensors stored outside the"
                        + " file are not supported");
                case 14 -> {
                    int location = r.int32("TensorProto.data_location");
                    if (location != 0) {
                        throw r.errorAt(r.fieldStart(), "TensorProto.data_location = " + location
                                + " (EXTERNAL): tensors stored outside the file are not supported");
                    }
                }
                case 4, 5, 7, 9, 10 -> {
                    if (data != null) {
                        throw r.errorAt(r.fieldStart(), "TensorProto holds its data twice (field " + field
                                + " after another data field; only one packed data field is supported)");
                    }
                    if (r.wireType() != ProtoReader.LENGTH_DELIMITED) {
                        throw r.errorAt(r.fieldStart(), "TensorProto data field " + field
                                + " is not packed (wire type " + r.wireType() + "); only packed data is supported");
                    }
                    data = r.bytes("TensorProto data field " + field);
                    storage = switch (field) {
                        case 4 -> OnnxTensor.Storage.FLOAT_DATA;
                        case 5 -> OnnxTensor.Storage.INT32_DATA;
                        case 7 -> OnnxTensor.Storage.INT64_DATA;
                        case 10 -> OnnxTensor.Storage.DOUBLE_DATA;
                        default -> OnnxTensor.Storage.RAW;
                    };
                }
                case 6, 11 -> {
                    unsupportedField = field;
                    r.skip();
                }
                default -> r.skip();
            }
        }
        String what = "TensorProto \"" + shorten(name) + "\"";
        if (dataType == 0) {
            throw r.errorAt(start, what + " has no data_type");
        }
        long[] shape = dims.toArray();
        long count = 1;
        for (long d : shape) {
            if (d < 0) {
                throw r.errorAt(start, what + " has a negative dimension " + d);
            }
            try {
                count = Math.multiplyExact(count, d);
            } catch (ArithmeticException e) {
                count = Long.MAX_VALUE;
            }
        }
        if (count > MAX_FILE_BYTES) {
            throw r.errorAt(start, what + " has " + (count == Long.MAX_VALUE ? "more than 2^63" : count)
                    + " elements, more than any file this reader holds");
        }
        OnnxDataType type = OnnxDataType.of(dataType);
        if (unsupportedField != 0) {
            throw r.errorAt(start, what + " keeps its data in field " + unsupportedField
                    + (unsupportedField == 6 ? " (string_data)" : " (uint64_data)") + ", which is not supported");
        }
        if (data == null) {
            if (count != 0) {
                throw r.errorAt(start, what + " has " + count + " elements but holds no data");
            }
            data = new ProtoReader.Slice(r.position(), 0);
        } else {
            // which typed field may hold which type (onnx.proto's comments on each field)
            long expectedBytes = switch (storage) {
                case RAW -> type.elementBytes() == 0 ? -3 : count * type.elementBytes();  // -3: size unknown, decode refuses
                case FLOAT_DATA -> type == OnnxDataType.FLOAT ? count * 4 : -1;
                case DOUBLE_DATA -> type == OnnxDataType.DOUBLE ? count * 8 : -1;
                case INT64_DATA -> type == OnnxDataType.INT64 ? -2 : -1;
                case INT32_DATA -> switch (type) {
                    case INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16, BFLOAT16 -> -2;
                    default -> -1;
                };
                default -> -1;
            };
            if (expectedBytes == -1) {
                throw r.errorAt(data.offset(), what + ": data type " + type + " (code " + dataType
                        + ") is not supported in data field " + storage);
            }
            if (expectedBytes >= 0 && expectedBytes != data.length()) {
                throw r.errorAt(data.offset(), what + " has dims " + java.util.Arrays.toString(shape) + " (" + count
                        + " elements of " + type + ") but its data holds " + data.length() + " bytes, expected "
                        + expectedBytes);
            }
            if (expectedBytes == -2) {
                long found = countVarints(r, data, what);
                if (found != count) {
                    throw r.errorAt(data.offset(), what + " has dims " + java.util.Arrays.toString(shape) + " (" + count
                            + " elements) but its data holds " + found + " values");
                }
            }
        }
        return new OnnxTensor(r.file(), name, shape, dataType, count, r.data(), storage, data.offset(), data.length());
    }

    /** Elements of a packed varint field; the last one must be complete. */
    private static long countVarints(ProtoReader r, ProtoReader.Slice data, String what) {
        ProtoReader packed = new ProtoReader(r.file(), r.data(), data.offset(), data.offset() + data.length(), what);
        long n = 0;
        while (packed.hasMore()) {
            packed.varint("element " + n);
            n++;
        }
        return n;
    }

    private static OnnxValueInfo readValueInfo(ProtoReader r) {
        String name = "";
        OnnxDataType elementType = OnnxDataType.UNDEFINED;
        List<String> dims = new ArrayList<>();
        while (r.hasMore()) {
            switch (r.nextField()) {
                case 1 -> name = r.string("ValueInfoProto.name");
                case 2 -> {
                    ProtoReader type = r.message("ValueInfoProto.type");
                    while (type.hasMore()) {
                        if (type.nextField() == 1) {  // tensor_type; sequences, maps, optionals are skipped
                            ProtoReader tensor = type.message("TypeProto.tensor_type");
                            while (tensor.hasMore()) {
                                switch (tensor.nextField()) {
                                    case 1 -> elementType = OnnxDataType.of(tensor.int32("TypeProto.Tensor.elem_type"));
                                    case 2 -> readShape(tensor.message("TypeProto.Tensor.shape"), dims);
                                    default -> tensor.skip();
                                }
                            }
                        } else {
                            type.skip();
                        }
                    }
                }
                default -> r.skip();
            }
        }
        return new OnnxValueInfo(name, elementType, List.copyOf(dims));
    }

    private static void readShape(ProtoReader r, List<String> dims) {
        while (r.hasMore()) {
            if (r.nextField() != 1) {
                r.skip();
                continue;
            }
            ProtoReader dim = r.message("TensorShapeProto.dim[" + dims.size() + "]");
            String value = "?";
            while (dim.hasMore()) {
                switch (dim.nextField()) {
                    case 1 -> value = Long.toString(dim.int64("Dimension.dim_value"));
                    case 2 -> value = dim.string("Dimension.dim_param");
                    default -> dim.skip();
                }
            }
            dims.add(value);
            if (dims.size() > MAX_RANK) {
                throw r.errorAt(r.fieldStart(), "TensorShapeProto: more than " + MAX_RANK + " dimensions");
            }
        }
    }

    private static String shorten(String s) {
        return s.length() <= 80 ? s : s.substring(0, 80) + "…";
    }

    public String file() {
        return file;
    }

    public long irVersion() {
        return irVersion;
    }

    public String producerName() {
        return producerName;
    }

    public String producerVersion() {
        return producerVersion;
    }

    /** Opset versions by domain ("" is the default ONNX domain). */
    public Map<String, Long> opsetImports() {
        return opsetImports;
    }

    public OnnxGraph graph() {
        return graph;
    }

    @Override
    public String toString() {
        return "OnnxModel[" + file + ", ir " + irVersion + ", " + producerName + " " + producerVersion + ", "
                + graph.nodes().size() + " nodes, " + graph.initializers().size() + " initializers]";
    }
}
