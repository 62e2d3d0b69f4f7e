package io.jnora.cli;

import io.jnora.Backend;
import picocli.CommandLine.Option;

/** {@code --backend auto|cpu|cuda}, shared by every command that computes. */
final class BackendOption {
    @Option(names = "--backend", defaultValue = "auto", paramLabel = "auto|cpu|cuda",
            description = "Where to compute (default: ${DEFAULT-VALUE}).", converter = BackendConverter.class)
    Backend backend;

    static final class BackendConverter implements picocli.CommandLine.ITypeConverter<Backend> {
        @Override
        public Backend convert(String value) {
            return Backend.parse(value);
        }
    }
}
