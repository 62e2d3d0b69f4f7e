package io.jnora.backend;

import io.jnora.Backend;
import io.jnora.BackendSelection;
import io.jnora.BackendUnavailableException;

/**
 * The rule of SPEC §3: AUTO picks CUDA when a device and its libraries load, else the CPU.
 *
 * <p>Thread safety: stateless; thread-safe (the CUDA probe runs once per process, see {@link CudaProbe}).
 */
public final class BackendSelector {
    /** A started backend and the account of why it was chosen. */
    public record Started(ComputeBackend backend, BackendSelection selection) {}

    private BackendSelector() {}

    /** CUDA on the caller's stream (an address; 0 = the legacy default stream). */
    public static Started startOnCudaStream(long stream) {
        CudaProbe.Result probe = CudaProbe.probe();
        if (!probe.available()) {
            throw new BackendUnavailableException("backend cuda on the caller's stream requested but unavailable: "
                    + probe.reason());
        }
        CudaBackend cuda = new CudaBackend(probe.device(), stream);
        return new Started(cuda, new BackendSelection(Backend.CUDA, Backend.CUDA,
                "requested, on the caller's stream 0x" + Long.toHexString(stream), probe.device()));
    }

    public static Started start(Backend requested) {
        switch (requested) {
            case CPU: {
                CpuBackend cpu = new CpuBackend();
                return new Started(cpu, new BackendSelection(requested, Backend.CPU, "requested", cpu.device()));
            }
            case CUDA: {
                CudaProbe.Result probe = CudaProbe.probe();
                if (!probe.available()) {
                    throw new BackendUnavailableException("backend cuda requested but unavailable: " + probe.reason());
                }
                CudaBackend cuda = new CudaBackend(probe.device());
                return new Started(cuda, new BackendSelection(requested, Backend.CUDA, "requested", probe.device()));
            }
            case AUTO:
            default: {
                CudaProbe.Result probe = CudaProbe.probe();
                if (probe.available()) {
                    CudaBackend cuda = new CudaBackend(probe.device());
                    return new Started(cuda, new BackendSelection(requested, Backend.CUDA, probe.reason(), probe.device()));
                }
                CpuBackend cpu = new CpuBackend();
                return new Started(cpu, new BackendSelection(requested, Backend.CPU,
                        "CUDA unavailable: " + probe.reason(), cpu.device()));
            }
        }
    }
}
