package io.jnora.cli;

import io.jnora.Jnora;
import io.jnora.NoraContext;
import io.jnora.backend.CudaProbe;
import io.jnora.backend.NativeLibrary;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "info", mixinStandardHelpOptions = true,
        description = "The backend chosen and why, the device, library versions.")
final class InfoCommand implements Callable<Integer> {
    @Mixin
    BackendOption backendOption;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        out.println("jnora " + Jnora.VERSION + " (libjnora " + NativeLibrary.version() + ", CUDA kernels "
                + (NativeLibrary.cudaCompiled() ? "compiled in" : "not built") + ")");
        out.println("java " + System.getProperty("java.version") + " on " + System.getProperty("os.name") + " "
                + System.getProperty("os.arch"));
        CudaProbe.Result cuda = CudaProbe.probe();
        out.println("cuda: " + (cuda.available() ? "available: " + cuda.device() : "unavailable: " + cuda.reason()));
        try (NoraContext ctx = NoraContext.create(backendOption.backend)) {
            var s = ctx.selection();
            out.println("backend: " + s.chosen().name().toLowerCase() + " (requested "
                    + s.requested().name().toLowerCase() + "; " + s.reason() + ")");
            out.println("device: " + s.device());
        }
        out.flush();
        return 0;
    }
}
