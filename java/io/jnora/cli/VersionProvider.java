package io.jnora.cli;

import io.jnora.Jnora;
import picocli.CommandLine;

final class VersionProvider implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
        return new String[] {"jnora " + Jnora.VERSION};
    }
}
