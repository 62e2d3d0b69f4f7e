/**
 * Safetensors files (SPEC §5): {@link io.jnora.io.SafetensorsFile} reads and validates,
 * {@link io.jnora.io.SafetensorsWriter} writes atomically, {@link io.jnora.io.TensorRef} parses the
 * command line's {@code FILE#TENSOR}.
 *
 * <p>The format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each tensor
 * name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the data
 * section) plus an optional {@code "__metadata__"} object of strings, then the data, little-endian and
 * row-major. Values convert to {@code float} from F32, F16 ({@link io.jnora.io.Float16}) and BF16
 * ({@link io.jnora.io.BFloat16}). An inconsistent file is a {@link io.jnora.SafetensorsFormatException}
 * naming the file, the field and the byte offset.
 */
package io.jnora.io;
