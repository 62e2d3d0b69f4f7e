package io.jnora.io;

import io.jnora.SafetensorsFormatException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * A tensor named on the command line as {@code FILE#TENSOR} (SPEC §5), e.g.
 * {@code layer.safetensors#weight}; with no {@code #} the file must hold exactly one tensor.
 *
 * <p>The text splits at the <em>last</em> {@code #}: tensor names from PyTorch and PEFT never hold
 * one, so a path that does can still be named by adding {@code #TENSOR}. (Without a tensor such a path
 * is misread; name the tensor.)
 *
 * <p>Thread safety: immutable and thread-safe.
 */
public final class TensorRef {
    private static final String FORM = " (write FILE#TENSOR, or FILE alone when it holds one tensor)";

    private final Path file;
    private final String tensor;  // null: the file's only tensor

    private TensorRef(Path file, String tensor) {
        this.file = file;
        this.tensor = tensor;
    }

    /** Parses {@code FILE#TENSOR} or {@code FILE}; an empty file or tensor part is an {@link IllegalArgumentException}. */
    public static TensorRef parse(String text) {
        Objects.requireNonNull(text, "text");
        int hash = text.lastIndexOf('#');
        String filePart = hash < 0 ? text : text.substring(0, hash);
        if (filePart.isEmpty()) {
            throw new IllegalArgumentException("tensor reference \"" + text + "\": the file name is empty" + FORM);
        }
        if (hash >= 0 && hash == text.length() - 1) {
            throw new IllegalArgumentException("tensor reference \"" + text + "\": the tensor name after '#' is empty" + FORM);
        }
        return new TensorRef(Path.of(filePart), hash < 0 ? null : text.substring(hash + 1));
    }

    /** A named tensor of a file. */
    public static TensorRef of(Path file, String tensor) {
        Objects.requireNonNull(tensor, "tensor");
        if (tensor.isEmpty()) {
            throw new IllegalArgumentException("tensor reference to " + file + ": the tensor name is empty");
        }
        return new TensorRef(Objects.requireNonNull(file, "file"), tensor);
    }

    /** The only tensor of a file. */
    public static TensorRef of(Path file) {
        return new TensorRef(Objects.requireNonNull(file, "file"), null);
    }

    public Path file() {
        return file;
    }

    /** The tensor's name; empty when the reference means the file's only tensor. */
    public Optional<String> tensor() {
        return Optional.ofNullable(tensor);
    }

    /**
     * The entry this reference means in {@code opened} (the file at {@link #file()}, opened by the
     * caller): the named tensor, or the only one; otherwise a {@link SafetensorsFormatException}
     * listing the names the file holds.
     */
    public TensorInfo resolve(SafetensorsFile opened) {
        if (tensor != null) {
            return opened.tensor(tensor);
        }
        var names = opened.names();
        if (names.size() != 1) {
            throw new SafetensorsFormatException(opened.path() + ": no tensor named and the file holds " + names.size()
                    + " tensors (" + Messages.nameList(names) + "); name one as " + opened.path() + "#TENSOR");
        }
        return opened.tensor(names.get(0));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorRef r && file.equals(r.file) && Objects.equals(tensor, r.tensor);
    }

    @Override
    public int hashCode() {
        return Objects.hash(file, tensor);
    }

    /** The reference as it is written: {@code FILE#TENSOR} or {@code FILE}. */
    @Override
    public String toString() {
        return tensor == null ? file.toString() : file + "#" + tensor;
    }
}
