package io.jnora.backend;

import static org.bytedeco.cuda.global.cudart.cudaGraphDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphExecDestroy;
import static org.bytedeco.cuda.global.cudart.cudaGraphInstantiate;
import static org.bytedeco.cuda.global.cudart.cudaGraphLaunch;
import static org.bytedeco.cuda.global.cudart.cudaStreamBeginCapture;
import static org.bytedeco.cuda.global.cudart.cudaStreamCaptureModeThreadLocal;
import static org.bytedeco.cuda.global.cudart.cudaStreamEndCapture;

import io.jnora.NativeFailureException;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;

/**
 * A CUDA graph captured from the backend's stream. Thread-local capture mode: other threads' CUDA
 * calls are not affected, and a call of this thread that cannot be captured (a stream
 * synchronisation, a pageable copy, cudaMalloc) fails the capture instead of running outside it; the
 * failure names the call and says that the work must not allocate or synchronise.
 */
final class CudaGraphCapture implements CapturedWork {
    private final CudaBackend backend;
    private final CUgraph_st graph = new CUgraph_st();
    private final CUgraphExec_st exec = new CUgraphExec_st();
    private boolean closed;

    CudaGraphCapture(CudaBackend backend, Runnable work) {
        this.backend = backend;
        CudaBackend.cuda(cudaStreamBeginCapture(backend.stream(), cudaStreamCaptureModeThreadLocal),
                "cudaStreamBeginCapture");
        try {
            work.run();
        } catch (Throwable e) {  // anything, checked ones thrown sneakily too: the stream must leave capture mode
            cudaStreamEndCapture(backend.stream(), graph);  // ends the (invalidated) capture on the stream
            if (!graph.isNull()) {
                cudaGraphDestroy(graph);
            }
            if (e instanceof NativeFailureException) {
                throw new NativeFailureException("capture: the captured work made a call a CUDA graph cannot hold"
                        + " (run it once before capturing, so that scratch is allocated, and do not synchronise"
                        + " or read results inside): " + e.getMessage(), e);
            }
            throw e;
        }
        CudaBackend.cuda(cudaStreamEndCapture(backend.stream(), graph), "cudaStreamEndCapture");
        try {
            CudaBackend.cuda(cudaGraphInstantiate(exec, graph, 0L), "cudaGraphInstantiate");
        } catch (RuntimeException e) {
            cudaGraphDestroy(graph);
            throw e;
        }
        backend.graphOpened();
    }

    @Override
    public void replay() {
        if (closed) {
            throw new IllegalStateException("CapturedWork is closed");
        }
        CudaBackend.cuda(cudaGraphLaunch(exec, backend.stream()), "cudaGraphLaunch");
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            backend.synchronize();  // a replay still queued uses the graph
        } finally {  // even if the stream reports an error: the graph and its hold on scratch go
            cudaGraphExecDestroy(exec);
            cudaGraphDestroy(graph);
            backend.graphClosed();
        }
    }
}
