// Standalone check of every CUDA kernel version against its CPU reference, on random odd shapes
// with outlier columns and NaN-poisoned outputs (SPEC §4). Needs a GPU; prints one line per case
// and a closing "N passed, M failed". Build and run:
//     cmake -S . -B target/native && cmake --build target/native --target jnora_kernel_check
//     target/native/jnora_kernel_check
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <array>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <random>
#include <type_traits>
#include <vector>

#include "../../native/cuda/kernels.cuh"
#include "jnora.h"

namespace {

int passed = 0, failed = 0;
std::mt19937_64 rng(std::random_device{}());

std::vector<float> random_matrix(int rows, int cols) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> pick(0, cols > 0 ? cols - 1 : 0);
    std::vector<float> m(size_t(rows) * cols);
    for (auto& v : m) v = normal(rng);
    for (int o = 0; o < 3 && cols > 0; ++o) {  // outlier channels, 20-100x
        int j = pick(rng);
        float scale = 20.0f + 80.0f * std::uniform_real_distribution<float>(0, 1)(rng);
        for (int i = 0; i < rows; ++i) m[size_t(i) * cols + j] *= scale;
    }
    return m;
}

float* to_device(const std::vector<float>& h) {
    float* d = nullptr;
    cudaMalloc(&d, std::max<size_t>(1, h.size()) * sizeof(float));
    if (!h.empty()) cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice);
    return d;
}

int* to_device_ints(const std::vector<int>& h) {
    int* d = nullptr;
    cudaMalloc(&d, std::max<size_t>(1, h.size()) * sizeof(int));
    if (!h.empty()) cudaMemcpy(d, h.data(), h.size() * sizeof(int), cudaMemcpyHostToDevice);
    return d;
}

std::vector<int> to_host_ints(const int* d, size_t n) {
    std::vector<int> h(n);
    cudaMemcpy(h.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost);
    return h;
}

// jnora_segment_layout_device on `rows` device indices into order and tiles it allocates, poisoned
// (-7) so that anything unwritten shows; the workspace is poisoned too (the kernel must clear it).
jnora_status_t device_layout(jnora_handle_t h, int rows, const int* dwhich, int adapters, int max_tiles,
                             int** dorder, int** dtiles) {
    *dorder = to_device_ints(std::vector<int>(std::max(1, rows), -7));
    *dtiles = to_device_ints(std::vector<int>(1 + 3 * size_t(max_tiles), -7));
    int* work = to_device_ints(std::vector<int>(std::max(1, jnora_segment_layout_workspace_ints(adapters)), -7));
    jnora_status_t st = jnora_segment_layout_device(h, rows, dwhich, adapters, *dorder, *dtiles, max_tiles, work);
    if (st == JNORA_STATUS_SUCCESS && cudaDeviceSynchronize() != cudaSuccess) st = JNORA_STATUS_CUDA_ERROR;
    cudaFree(work);
    return st;
}

std::vector<float> to_host(const float* d, size_t n) {
    std::vector<float> h(n);
    cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost);
    return h;
}

void expect_close(const char* name, const std::vector<float>& got, const std::vector<float>& want,
                  jnora_status_t status, double tolerance = 1e-5) {
    double num = 0, den = 0;
    bool finite = true;
    for (size_t i = 0; i < got.size(); ++i) {
        if (!std::isfinite(got[i])) finite = false;
        num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
        den += double(want[i]) * want[i];
    }
    double rel = std::sqrt(num / (den > 0 ? den : 1));
    bool ok = status == JNORA_STATUS_SUCCESS && finite && rel <= tolerance;  // 1e-5: float32 vs double sums
    std::printf("%-60s %s rel=%.2e%s\n", name, ok ? "ok  " : "FAIL", rel,
                status == JNORA_STATUS_SUCCESS ? "" : jnora_last_error());
    (ok ? passed : failed)++;
}

void check_gemm(jnora::GemmVersion version, int M, int N, int K, bool transposed_q, float beta) {
    auto p = random_matrix(M, K);
    auto q = random_matrix(N, K);  // stored N x K, or K x N when transposed_q
    auto c = random_matrix(M, N);
    long long qs_r = transposed_q ? 1 : K, qs_c = transposed_q ? N : 1;
    std::vector<float> want = c;
    if (beta == 0.0f) for (auto& v : c) v = NAN;  // poison: beta == 0 must not read C
    jnora::reference::strided_gemm(M, N, K, 0.75f, p.data(), K, 1, q.data(), qs_r, qs_c, beta,
                                   want.data(), N);
    float *dp = to_device(p), *dq = to_device(q), *dc = to_device(c);
    jnora_status_t st = jnora::launch_strided_gemm(version, nullptr, M, N, K, 0.75f, dp, K, 1, dq,
                                                   qs_r, qs_c, beta, dc, N);
    if (st == JNORA_STATUS_SUCCESS && cudaDeviceSynchronize() != cudaSuccess) st = JNORA_STATUS_CUDA_ERROR;
    char name[128];
    std::snprintf(name, sizeof name, "gemm v%d M=%d N=%d K=%d qT=%d beta=%g", int(version), M, N, K,
                  int(transposed_q), beta);
    expect_close(name, to_host(dc, c.size()), want, st);
    cudaFree(dp); cudaFree(dq); cudaFree(dc);
}

void check_inner(int T, int r, int r_in) {
    jnora_handle_t h;
    jnora_create(&h);
    auto z1 = random_matrix(T, r), a = random_matrix(r_in, r), b = random_matrix(r, r_in);
    std::vector<float> z2(size_t(T) * r_in), z3(size_t(T) * r), dz2(z2.size()), dz1(z3.size());
    jnora::reference::inner_forward(T, r, r_in, 0.5f, z1.data(), r, a.data(), b.data(), z2.data(),
                                    r_in, z3.data(), r);
    jnora::reference::inner_backward(T, r, r_in, z1.data(), r, a.data(), b.data(), dz2.data(), r_in,
                                     dz1.data(), r);
    std::vector<float> poison_small(z2.size(), NAN), poison_wide(z3.size(), NAN);
    float *dz1_in = to_device(z1), *da = to_device(a), *db = to_device(b);
    float *d_small = to_device(poison_small), *d_wide = to_device(poison_wide);
    char name[128];
    jnora_status_t st = jnora_inner_forward(h, T, r, r_in, 0.5f, dz1_in, r, da, db, d_small, r_in,
                                            d_wide, r);
    cudaDeviceSynchronize();
    std::snprintf(name, sizeof name, "inner forward T=%d r=%d r_in=%d (Z2)", T, r, r_in);
    expect_close(name, to_host(d_small, z2.size()), z2, st);
    std::snprintf(name, sizeof name, "inner forward T=%d r=%d r_in=%d (Z3)", T, r, r_in);
    expect_close(name, to_host(d_wide, z3.size()), z3, st);
    cudaMemcpy(d_small, poison_small.data(), z2.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_wide, poison_wide.data(), z3.size() * 4, cudaMemcpyHostToDevice);
    st = jnora_inner_backward(h, T, r, r_in, dz1_in, r, da, db, d_small, r_in, d_wide, r);
    cudaDeviceSynchronize();
    std::snprintf(name, sizeof name, "inner backward T=%d r=%d r_in=%d (dZ2)", T, r, r_in);
    expect_close(name, to_host(d_small, dz2.size()), dz2, st);
    std::snprintf(name, sizeof name, "inner backward T=%d r=%d r_in=%d (dZ1)", T, r, r_in);
    expect_close(name, to_host(d_wide, dz1.size()), dz1, st);
    cudaFree(dz1_in); cudaFree(da); cudaFree(db); cudaFree(d_small); cudaFree(d_wide);
    jnora_destroy(h);
}

// Activation statistics (activation_stats.cu): a padded batch (ldx > cols, the padding NaN so that
// reading it fails the check), outputs and workspace poisoned with NaN. The device sums in double
// in another order than the reference, so the sums agree to ~rows * 1e-16 relative (1e-12 allows
// for that and nothing else); max |x| is a max of the same floats and must match exactly.
void check_stats(jnora::StatsVersion version, int rows, int cols, int pad) {
    const int ldx = cols + pad;
    auto dense = random_matrix(rows, cols);
    std::vector<float> x(size_t(rows) * ldx, NAN);
    for (int t = 0; t < rows; ++t)
        for (int j = 0; j < cols; ++j) x[size_t(t) * ldx + j] = dense[size_t(t) * cols + j];
    std::vector<double> want_abs(cols), want_sq(cols);
    std::vector<float> want_max(cols);
    jnora::reference::activation_stats(rows, cols, x.data(), ldx, want_abs.data(), want_sq.data(),
                                       want_max.data());
    size_t ws_bytes = jnora::activation_stats_workspace_bytes(version, rows, cols);
    if (version == jnora::StatsVersion::Chunked) {
        size_t api_bytes = 0;
        jnora_activation_stats_workspace_size(rows, cols, &api_bytes);
        if (api_bytes != ws_bytes) {
            std::printf("activation stats rows=%d cols=%d: C API workspace %zu != launcher's %zu FAIL\n", rows,
                        cols, api_bytes, ws_bytes);
            failed++;
        }
    }
    float* dx = to_device(x);
    double *d_abs = nullptr, *d_sq = nullptr;
    float* d_max = nullptr;
    void* d_ws = nullptr;
    const size_t nc = std::max(1, cols);
    cudaMalloc(&d_abs, nc * sizeof(double));
    cudaMalloc(&d_sq, nc * sizeof(double));
    cudaMalloc(&d_max, nc * sizeof(float));
    cudaMalloc(&d_ws, std::max<size_t>(1, ws_bytes));
    cudaMemset(d_abs, 0xFF, nc * sizeof(double));  // all-ones bytes: NaN poison
    cudaMemset(d_sq, 0xFF, nc * sizeof(double));
    cudaMemset(d_max, 0xFF, nc * sizeof(float));
    cudaMemset(d_ws, 0xFF, std::max<size_t>(1, ws_bytes));
    jnora_status_t st = jnora::launch_activation_stats(version, nullptr, rows, cols, dx, ldx, d_abs,
                                                       d_sq, d_max, d_ws, ws_bytes);
    if (st == JNORA_STATUS_SUCCESS && cudaDeviceSynchronize() != cudaSuccess) st = JNORA_STATUS_CUDA_ERROR;
    std::vector<double> got_abs(cols), got_sq(cols);
    std::vector<float> got_max(cols);
    cudaMemcpy(got_abs.data(), d_abs, cols * sizeof(double), cudaMemcpyDeviceToHost);
    cudaMemcpy(got_sq.data(), d_sq, cols * sizeof(double), cudaMemcpyDeviceToHost);
    cudaMemcpy(got_max.data(), d_max, cols * sizeof(float), cudaMemcpyDeviceToHost);
    double worst = 0;
    bool ok = st == JNORA_STATUS_SUCCESS;
    for (int j = 0; j < cols; ++j) {
        double ea = std::fabs(got_abs[j] - want_abs[j]) / (want_abs[j] > 0 ? want_abs[j] : 1.0);
        double eq = std::fabs(got_sq[j] - want_sq[j]) / (want_sq[j] > 0 ? want_sq[j] : 1.0);
        if (!(ea <= 1e-12 && eq <= 1e-12 && got_max[j] == want_max[j])) ok = false;  // NaN fails
        worst = std::max(worst, std::max(ea, eq));
        if (!std::isfinite(ea) || !std::isfinite(eq)) worst = NAN;
    }
    char name[128];
    std::snprintf(name, sizeof name, "activation stats v%d rows=%d cols=%d ldx=%d", int(version), rows,
                  cols, ldx);
    std::printf("%-60s %s rel=%.2e%s\n", name, ok ? "ok  " : "FAIL", worst,
                st == JNORA_STATUS_SUCCESS ? "" : jnora_last_error());
    (ok ? passed : failed)++;
    cudaFree(dx); cudaFree(d_abs); cudaFree(d_sq); cudaFree(d_max); cudaFree(d_ws);
}

// The C API refuses bad arguments with INVALID_VALUE instead of launching.
void check_stats_arguments() {
    jnora_handle_t h;
    jnora_create(&h);
    size_t need = 0;
    jnora_activation_stats_workspace_size(100, 10, &need);
    std::vector<float> x(100 * 10, 1.0f);
    float* dx = to_device(x);
    double *d_abs = nullptr, *d_sq = nullptr;
    float* d_max = nullptr;
    void* d_ws = nullptr;
    cudaMalloc(&d_abs, 10 * sizeof(double));
    cudaMalloc(&d_sq, 10 * sizeof(double));
    cudaMalloc(&d_max, 10 * sizeof(float));
    cudaMalloc(&d_ws, need);
    struct Case { const char* what; jnora_status_t st; } cases[] = {
        {"workspace one byte short", jnora_activation_stats(h, 100, 10, dx, 10, d_abs, d_sq, d_max, d_ws, need - 1)},
        {"ldx < cols", jnora_activation_stats(h, 100, 10, dx, 9, d_abs, d_sq, d_max, d_ws, need)},
        {"negative rows", jnora_activation_stats(h, -1, 10, dx, 10, d_abs, d_sq, d_max, d_ws, need)},
        {"NULL handle", jnora_activation_stats(nullptr, 100, 10, dx, 10, d_abs, d_sq, d_max, d_ws, need)},
        {"NULL output", jnora_activation_stats(h, 100, 10, dx, 10, nullptr, d_sq, d_max, d_ws, need)},
    };
    for (const auto& c : cases) {
        bool ok = c.st == JNORA_STATUS_INVALID_VALUE;
        std::printf("activation stats refuses %-35s %s %s\n", c.what, ok ? "ok  " : "FAIL",
                    jnora_status_string(c.st));
        (ok ? passed : failed)++;
    }
    cudaFree(dx); cudaFree(d_abs); cudaFree(d_sq); cudaFree(d_max); cudaFree(d_ws);
    jnora_destroy(h);
}

// AdamW (adamw.cu): a list of tensors of odd sizes (empty ones, one above a chunk of 4096, many
// small ones) updated for three steps with fresh gradients, the second with a clipping scale,
// against the reference run on host copies. Both use the same scalars and the same order of
// round-to-nearest operations, so they should agree to the bit; the check allows expect_close's
// 1e-5 relative and says in the case's name whether the result was bitwise equal.
void check_adamw(jnora::MultiTensorVersion version, const std::vector<long long>& sizes) {
    const int count = int(sizes.size());
    std::vector<std::vector<float>> p(count), m(count), v(count);
    std::vector<float*> dp(count), dg(count), dm(count), dv(count);
    for (int t = 0; t < count; ++t) {
        p[t] = random_matrix(1, int(sizes[t]));
        m[t].assign(size_t(sizes[t]), 0.0f);
        v[t].assign(size_t(sizes[t]), 0.0f);
        dp[t] = to_device(p[t]);
        dm[t] = to_device(m[t]);
        dv[t] = to_device(v[t]);
        dg[t] = nullptr;
    }
    size_t ws_bytes = jnora::multi_tensor_workspace_bytes(count);
    void* ws = nullptr;
    cudaMalloc(&ws, ws_bytes);
    cudaMemset(ws, 0xFF, ws_bytes);
    jnora_status_t st = JNORA_STATUS_SUCCESS;
    for (int step = 1; step <= 3 && st == JNORA_STATUS_SUCCESS; ++step) {
        std::vector<std::vector<float>> g(count);
        for (int t = 0; t < count; ++t) {
            g[t] = random_matrix(1, int(sizes[t]));
            if (dg[t]) cudaFree(dg[t]);
            dg[t] = to_device(g[t]);
        }
        jnora::AdamWHyper h{1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step == 2 ? 0.37f : 1.0f, step};
        const jnora::AdamWScalars s = jnora::adamw_scalars(h);
        for (int t = 0; t < count; ++t) jnora::reference::adamw(sizes[t], p[t].data(), g[t].data(), m[t].data(), v[t].data(), s);
        st = jnora::launch_adamw(version, nullptr, count, dp.data(), dg.data(), dm.data(), dv.data(), sizes.data(), h,
                                 ws, ws_bytes);
        if (st == JNORA_STATUS_SUCCESS && cudaDeviceSynchronize() != cudaSuccess) st = JNORA_STATUS_CUDA_ERROR;
    }
    std::vector<float> got, want;
    bool bitwise = true;
    for (int t = 0; t < count; ++t) {
        for (auto* pair : {&p, &m, &v}) {
            float* d = pair == &p ? dp[t] : pair == &m ? dm[t] : dv[t];
            auto h = to_host(d, size_t(sizes[t]));
            const auto& w = (*pair)[t];
            if (std::memcmp(h.data(), w.data(), h.size() * sizeof(float)) != 0) bitwise = false;
            got.insert(got.end(), h.begin(), h.end());
            want.insert(want.end(), w.begin(), w.end());
        }
    }
    char name[128];
    long long total = 0;
    for (auto n : sizes) total += n;
    std::snprintf(name, sizeof name, "adamw v%d %d tensors, %lld elements, 3 steps%s", int(version), count, total,
                  bitwise ? " (bitwise)" : "");
    if (got.empty()) {
        std::printf("%-60s %s\n", name, st == JNORA_STATUS_SUCCESS ? "ok  " : "FAIL");
        (st == JNORA_STATUS_SUCCESS ? passed : failed)++;
    } else {
        expect_close(name, got, want, st);
    }
    for (int t = 0; t < count; ++t) { cudaFree(dp[t]); cudaFree(dg[t]); cudaFree(dm[t]); cudaFree(dv[t]); }
    cudaFree(ws);
}

// The global sum of squares: float64 sums in another order than the reference (1e-12 relative
// allows that and nothing else), the result poisoned first, and two runs of the multi-tensor
// version must give the same bits (the reduction order is fixed).
void check_sum_of_squares(jnora::MultiTensorVersion version, const std::vector<long long>& sizes) {
    const int count = int(sizes.size());
    std::vector<std::vector<float>> x(count);
    std::vector<const float*> hx(count), dx(count);
    for (int t = 0; t < count; ++t) {
        x[t] = random_matrix(1, int(sizes[t]));
        hx[t] = x[t].data();
        dx[t] = to_device(x[t]);
    }
    const double want = jnora::reference::sum_of_squares(count, hx.data(), sizes.data());
    size_t ws_bytes = jnora::multi_tensor_workspace_bytes(count);
    void* ws = nullptr;
    double* d_result = nullptr;
    cudaMalloc(&ws, ws_bytes);
    cudaMalloc(&d_result, sizeof(double));
    double got[2] = {0, 0};
    jnora_status_t st = JNORA_STATUS_SUCCESS;
    for (int run = 0; run < 2 && st == JNORA_STATUS_SUCCESS; ++run) {
        cudaMemset(d_result, 0xFF, sizeof(double));
        cudaMemset(ws, 0xFF, ws_bytes);
        st = jnora::launch_sum_of_squares(version, nullptr, count, dx.data(), sizes.data(), d_result, ws, ws_bytes);
        if (st == JNORA_STATUS_SUCCESS && cudaDeviceSynchronize() != cudaSuccess) st = JNORA_STATUS_CUDA_ERROR;
        cudaMemcpy(&got[run], d_result, sizeof(double), cudaMemcpyDeviceToHost);
    }
    double rel = std::fabs(got[0] - want) / (want > 0 ? want : 1.0);
    bool same = std::memcmp(&got[0], &got[1], sizeof(double)) == 0;
    bool ok = st == JNORA_STATUS_SUCCESS && rel <= 1e-12 && same;  // NaN fails
    char name[128];
    std::snprintf(name, sizeof name, "sum of squares v%d %d tensors%s", int(version), count, same ? "" : " (runs differ)");
    std::printf("%-60s %s rel=%.2e%s\n", name, ok ? "ok  " : "FAIL", rel, st == JNORA_STATUS_SUCCESS ? "" : jnora_last_error());
    (ok ? passed : failed)++;
    for (auto* d : dx) cudaFree(const_cast<float*>(d));
    cudaFree(ws);
    cudaFree(d_result);
}

// The multiply-add: beta = 0 with a NaN-poisoned output (must not be read), beta = 1, b = NULL,
// and out aliasing a.
void check_multiply_add(long long n) {
    auto a = random_matrix(1, int(n)), b = random_matrix(1, int(n)), out = random_matrix(1, int(n));
    float *da = to_device(a), *db = to_device(b), *dout = nullptr;
    struct Case { const char* what; float alpha; bool use_b; float beta; bool poison; bool alias; } cases[] = {
        {"a*b, beta 0, poisoned out", 1.0f, true, 0.0f, true, false},
        {"0.5*a*b + out", 0.5f, true, 1.0f, false, false},
        {"-a + 2*out (b NULL)", -1.0f, false, 2.0f, false, false},
        {"out = 3*out*b (out aliases a)", 3.0f, true, 0.0f, false, true},
    };
    for (const auto& c : cases) {
        std::vector<float> start = c.poison ? std::vector<float>(size_t(n), NAN) : out;
        std::vector<float> want = start;
        const std::vector<float>& first = c.alias ? start : a;
        jnora::reference::multiply_add(n, c.alpha, first.data(), c.use_b ? b.data() : nullptr, c.beta, want.data());
        dout = to_device(start);
        jnora_status_t st = jnora::launch_multiply_add(nullptr, n, c.alpha, c.alias ? dout : da, c.use_b ? db : nullptr,
                                                       c.beta, dout);
        if (st == JNORA_STATUS_SUCCESS && cudaDeviceSynchronize() != cudaSuccess) st = JNORA_STATUS_CUDA_ERROR;
        char name[128];
        std::snprintf(name, sizeof name, "multiply-add n=%lld %s", n, c.what);
        expect_close(name, to_host(dout, size_t(n)), want, st);
        cudaFree(dout);
    }
    cudaFree(da);
    cudaFree(db);
}

// The training entry points refuse bad arguments with INVALID_VALUE instead of launching.
void check_training_arguments() {
    jnora_handle_t h;
    jnora_create(&h);
    std::vector<float> x(100, 1.0f);
    float* d = to_device(x);
    float* ptrs[1] = {d};
    const float* cptrs[1] = {d};
    long long sizes[1] = {100}, negative[1] = {-1};
    size_t need = 0;
    jnora_multi_tensor_workspace_size(1, &need);
    void* ws = nullptr;
    cudaMalloc(&ws, need);
    double* result = nullptr;
    cudaMalloc(&result, sizeof(double));
    struct Case { const char* what; jnora_status_t st; } cases[] = {
        {"adamw step 0", jnora_adamw_step(h, 1, ptrs, cptrs, ptrs, ptrs, sizes, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f, 0, ws, need)},
        {"adamw workspace one byte short", jnora_adamw_step(h, 1, ptrs, cptrs, ptrs, ptrs, sizes, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f, 1, ws, need - 1)},
        {"adamw negative size", jnora_adamw_step(h, 1, ptrs, cptrs, ptrs, ptrs, negative, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f, 1, ws, need)},
        {"adamw NULL handle", jnora_adamw_step(nullptr, 1, ptrs, cptrs, ptrs, ptrs, sizes, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f, 1, ws, need)},
        {"sum of squares NULL result", jnora_sum_of_squares(h, 1, cptrs, sizes, nullptr, ws, need)},
        {"sum of squares negative count", jnora_sum_of_squares(h, -1, cptrs, sizes, result, ws, need)},
        {"multiply-add NULL a", jnora_multiply_add(h, 100, 1.0f, nullptr, nullptr, 0.0f, d)},
    };
    for (const auto& c : cases) {
        bool ok = c.st == JNORA_STATUS_INVALID_VALUE;
        std::printf("training refuses %-43s %s %s\n", c.what, ok ? "ok  " : "FAIL", jnora_status_string(c.st));
        (ok ? passed : failed)++;
    }
    cudaFree(d); cudaFree(ws); cudaFree(result);
    jnora_destroy(h);
}

}  // namespace

// The C API wrappers with padded leading dimensions: results as the reference computes them in the
// strided layout, and the padding columns (poisoned with a sentinel) left exactly as they were.
void expect_padding_untouched(const char* name, const std::vector<float>& got, int rows, int cols, int ld) {
    bool ok = true;
    for (int i = 0; i < rows; ++i)
        for (int j = cols; j < ld; ++j) ok = ok && got[size_t(i) * ld + j] == -7.0f;
    std::printf("%-60s %s\n", name, ok ? "ok  " : "FAIL (padding written)");
    (ok ? passed : failed)++;
}

std::vector<float> padded(const std::vector<float>& dense, int rows, int cols, int ld) {
    std::vector<float> out(size_t(rows) * ld, -7.0f);
    for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) out[size_t(i) * ld + j] = dense[size_t(i) * cols + j];
    return out;
}

void check_wrappers_with_padding() {
    jnora_handle_t h;
    jnora_create(&h);
    const int T = 19, n = 45, m = 38, r = 12, r_in = 5;
    const int ldx = n + 3, ldz = r + 2, ldy = m + 5, ldz2 = r_in + 1;
    auto x = random_matrix(T, n), a = random_matrix(r, n), b = random_matrix(m, r);
    auto ai = random_matrix(r_in, r), bi = random_matrix(r, r_in);
    std::vector<float> xp = padded(x, T, n, ldx);
    char name[128];
    // shrink: Z = 0.5 X Aᵀ into a padded Z
    std::vector<float> zp(size_t(T) * ldz, -7.0f), want = zp;
    jnora::reference::strided_gemm(T, r, n, 0.5f, xp.data(), ldx, 1, a.data(), n, 1, 0.0f, want.data(), ldz);
    float *dx = to_device(xp), *da = to_device(a), *db = to_device(b), *dz = to_device(zp);
    jnora_status_t st = jnora_shrink(h, T, r, n, 0.5f, dx, ldx, da, n, 1, dz, ldz);
    cudaDeviceSynchronize();
    auto got = to_host(dz, zp.size());
    std::snprintf(name, sizeof name, "jnora_shrink ldx=%d ldz=%d", ldx, ldz);
    auto strip = [](const std::vector<float>& v, int rows, int cols, int ld) {
        std::vector<float> d(size_t(rows) * cols);
        for (int i = 0; i < rows; ++i)
            for (int j = 0; j < cols; ++j) d[size_t(i) * cols + j] = v[size_t(i) * ld + j];
        return d;
    };
    expect_close(name, strip(got, T, r, ldz), strip(want, T, r, ldz), st);
    expect_padding_untouched("jnora_shrink padding", got, T, r, ldz);
    // expand: Y += Z Bᵀ into a padded Y (beta = 1)
    auto y = random_matrix(T, m);
    std::vector<float> yp = padded(y, T, m, ldy), ywant = yp;
    jnora::reference::strided_gemm(T, m, r, 1.0f, got.data(), ldz, 1, b.data(), r, 1, 1.0f, ywant.data(), ldy);
    float* dy = to_device(yp);
    st = jnora_expand(h, T, m, r, 1.0f, dz, ldz, db, r, 1, 1.0f, dy, ldy);
    cudaDeviceSynchronize();
    auto ygot = to_host(dy, yp.size());
    std::snprintf(name, sizeof name, "jnora_expand ldz=%d ldy=%d beta=1", ldz, ldy);
    expect_close(name, strip(ygot, T, m, ldy), strip(ywant, T, m, ldy), st);
    expect_padding_untouched("jnora_expand padding", ygot, T, m, ldy);
    // weight_grad: G = Zᵀ X' with padded operands (the transposed-view path), G padded
    const int ldg = n + 4;
    std::vector<float> gp(size_t(r) * ldg, -7.0f), gwant = gp;
    jnora::reference::strided_gemm(r, n, T, 1.0f, got.data(), 1, ldz, xp.data(), 1, ldx, 0.0f, gwant.data(), ldg);
    float* dg = to_device(gp);
    st = jnora_weight_grad(h, T, r, n, dz, ldz, dx, ldx, dg, ldg);
    cudaDeviceSynchronize();
    auto ggot = to_host(dg, gp.size());
    std::snprintf(name, sizeof name, "jnora_weight_grad ldp=%d ldq=%d ldg=%d", ldz, ldx, ldg);
    expect_close(name, strip(ggot, r, n, ldg), strip(gwant, r, n, ldg), st);
    expect_padding_untouched("jnora_weight_grad padding", ggot, r, n, ldg);
    // inner forward with padded Z1, Z2, Z3
    std::vector<float> z2p(size_t(T) * ldz2, -7.0f), z3p(size_t(T) * ldz, -7.0f), z2want = z2p, z3want = z3p;
    jnora::reference::inner_forward(T, r, r_in, 0.25f, got.data(), ldz, ai.data(), bi.data(), z2want.data(), ldz2,
                                    z3want.data(), ldz);
    float *dai = to_device(ai), *dbi = to_device(bi), *dz2 = to_device(z2p), *dz3 = to_device(z3p);
    st = jnora_inner_forward(h, T, r, r_in, 0.25f, dz, ldz, dai, dbi, dz2, ldz2, dz3, ldz);
    cudaDeviceSynchronize();
    auto z2got = to_host(dz2, z2p.size()), z3got = to_host(dz3, z3p.size());
    expect_close("jnora_inner_forward padded (Z2)", strip(z2got, T, r_in, ldz2), strip(z2want, T, r_in, ldz2), st);
    expect_close("jnora_inner_forward padded (Z3)", strip(z3got, T, r, ldz), strip(z3want, T, r, ldz), st);
    expect_padding_untouched("jnora_inner_forward padding", z3got, T, r, ldz);
    // widen to double: exact
    double* dwide = nullptr;
    cudaMalloc(&dwide, sizeof(double) * T * n);
    st = jnora_widen_to_double(h, T, n, dx, ldx, dwide);
    std::vector<double> wide(size_t(T) * n);
    cudaMemcpy(wide.data(), dwide, wide.size() * sizeof(double), cudaMemcpyDeviceToHost);
    bool exact = st == JNORA_STATUS_SUCCESS;
    for (int i = 0; i < T; ++i)
        for (int j = 0; j < n; ++j) exact = exact && wide[size_t(i) * n + j] == double(x[size_t(i) * n + j]);
    std::printf("%-60s %s\n", "jnora_widen_to_double ldx padded", exact ? "ok  " : "FAIL");
    (exact ? passed : failed)++;
    for (float* p : {dx, da, db, dz, dy, dg, dai, dbi, dz2, dz3}) cudaFree(p);
    cudaFree(dwide);
    jnora_destroy(h);
}

// The host layout of the segment-grouped kernels: row_order holds exactly the rows with an adapter
// (0 <= a < adapters), grouped by ascending adapter and in row order within one; the tiles cover it
// in order, each of one adapter and 1..64 rows, never more than the capacity (worst case: every row
// its own adapter, and runs just over a tile). Too small a capacity is refused.
void check_segment_layout(int rows, int adapters, int mode) {
    std::vector<int> which(rows);
    for (int t = 0; t < rows; ++t) {
        if (mode == 0) which[t] = int(rng() % (adapters + 2)) - 1;  // scattered, some none or past the table
        if (mode == 1) which[t] = t % adapters;                     // every row different while it can be
        if (mode == 2) which[t] = int((long long)t * adapters / rows);  // runs of one adapter
        if (mode == 3) {  // indices no slot has: skipped like -1, whatever their value
            const int bad[] = {INT_MIN, -5, -1, adapters, INT_MAX};
            which[t] = rng() % 2 ? bad[rng() % 5] : int(rng() % std::max(1, adapters));
        }
    }
    const int capacity = jnora_segment_tiles_capacity(rows, adapters);
    std::vector<int> order(std::max(1, rows), -7), tiles(1 + 3 * size_t(capacity), -7);
    bool ok = jnora_segment_layout(rows, which.data(), adapters, order.data(), tiles.data(), capacity) ==
              JNORA_STATUS_SUCCESS;
    std::vector<int> want;
    for (int a = 0; a < adapters; ++a)
        for (int t = 0; t < rows; ++t)
            if (which[t] == a) want.push_back(t);
    ok = ok && tiles[0] >= 0 && tiles[0] <= capacity;
    int covered = 0;
    for (int i = 0; ok && i < tiles[0]; ++i) {
        const int a = tiles[1 + 3 * i], begin = tiles[2 + 3 * i], count = tiles[3 + 3 * i];
        ok = begin == covered && count >= 1 && count <= JNORA_SEGMENT_ROWS && begin + count <= (int)want.size();
        for (int p = begin; ok && p < begin + count; ++p) ok = order[p] == want[p] && which[order[p]] == a;
        covered += count;
    }
    ok = ok && covered == (int)want.size();
    if (rows > 0 && adapters > 0)
        ok = ok && jnora_segment_layout(rows, which.data(), adapters, order.data(), tiles.data(), capacity - 1) ==
                       JNORA_STATUS_INVALID_VALUE;
    char name[128];
    std::snprintf(name, sizeof name, "segment layout rows=%d adapters=%d mode=%d (%d tiles of %d)", rows, adapters,
                  mode, tiles[0], capacity);
    std::printf("%-60s %s\n", name, ok ? "ok  " : "FAIL");
    (ok ? passed : failed)++;

    // The device's layout: the same tiles; each adapter's rows the same set (their order is the atomics').
    jnora_status_t st = jnora_segment_layout(rows, which.data(), adapters, order.data(), tiles.data(), capacity);
    jnora_handle_t h;
    jnora_create(&h);
    int* dwhich = to_device_ints(which);
    int *dorder = nullptr, *dtiles = nullptr;
    bool same = st == JNORA_STATUS_SUCCESS &&
                device_layout(h, rows, dwhich, adapters, capacity, &dorder, &dtiles) == JNORA_STATUS_SUCCESS;
    std::vector<int> got_tiles = to_host_ints(dtiles, 1 + 3 * size_t(capacity));
    std::vector<int> got_order = to_host_ints(dorder, std::max(1, rows));
    same = same && got_tiles[0] == tiles[0];
    for (int i = 1; same && i <= 3 * tiles[0]; ++i) same = got_tiles[i] == tiles[i];
    for (int i = 0; same && i < tiles[0];) {  // one adapter's tiles are consecutive: compare its whole segment
        const int a = tiles[1 + 3 * i], begin = tiles[2 + 3 * i];
        int end = begin;
        for (; i < tiles[0] && tiles[1 + 3 * i] == a; ++i) end = tiles[2 + 3 * i] + tiles[3 + 3 * i];
        std::vector<int> seg(got_order.begin() + begin, got_order.begin() + end);
        std::sort(seg.begin(), seg.end());
        same = std::equal(seg.begin(), seg.end(), order.begin() + begin);
    }
    if (rows > 0 && adapters > 0) {
        int* work = to_device_ints(std::vector<int>(jnora_segment_layout_workspace_ints(adapters)));
        same = same && jnora_segment_layout_device(h, rows, dwhich, adapters, dorder, dtiles, capacity - 1, work) ==
                           JNORA_STATUS_INVALID_VALUE;
        cudaFree(work);
    }
    std::snprintf(name, sizeof name, "  the same layout on the device (%d tiles)", got_tiles[0]);
    std::printf("%-60s %s\n", name, same ? "ok  " : "FAIL");
    (same ? passed : failed)++;
    cudaFree(dwhich);
    cudaFree(dorder);
    cudaFree(dtiles);
    jnora_destroy(h);
}

// Grouped (per-row) adapters: mixed ranks 1..33, rows with none (-1) and rows whose index is past
// the table (skipped like -1, as the header says), Z poisoned; Y against the reference, and rows
// without an adapter bit-identical to their input. splits = 0 takes the library's choice
// (jnora_grouped_splits); others force a split-K count, also ones that leave empty slices past n.
// pad > 0 pads X, Z and Y by that many columns: X's padding is NaN (reading it fails the check) and
// Y's a sentinel that must survive.
// segmented = true runs the segment-grouped kernels instead (jnora_segmented_shrink/expand) on the
// layout jnora_segment_layout makes, with most rows in runs of one adapter (tiles of up to 64 rows,
// some full, some cut short) and the rest scattered.
// adapters > 4 repeats the four ranks; with many adapters a segmented batch has more tiles than the
// kernels' grid, and blocks loop over several.
// top_rank replaces the largest of the four ranks (33): 64, the largest the issue names, spans two
// 32-column steps of the segmented shrink and eight 8-column blocks of the row-at-a-time one.
// layout_rows > rows (segmented) makes the layout for more rows than the kernels are given, as when
// a captured launch is replayed after a larger batch was staged: the rows past `rows` must be
// skipped, never read or written (AddressSanitizer watches X, Z and Y, which hold `rows` rows).
void check_grouped(int rows, int n, int m, int splits, int pad = 0, bool segmented = false, int adapters = 4,
                   int layout_rows = 0, int top_rank = 33) {
    layout_rows = std::max(layout_rows, rows);
    if (splits == 0)
        splits = segmented ? jnora_segmented_splits(rows, n, top_rank) : jnora_grouped_splits(rows, n, top_rank);
    jnora_handle_t h;
    jnora_create(&h);
    std::vector<int> ranks_vec(adapters);
    std::vector<float> scales(adapters);
    const int four_ranks[] = {1, 5, 16, top_rank};
    const float four_scales[] = {0.5f, 1.0f, 2.0f, 0.25f};
    for (int i = 0; i < adapters; ++i) {
        ranks_vec[i] = four_ranks[i % 4];
        scales[i] = four_scales[i % 4];
    }
    const int* ranks_host = ranks_vec.data();
    std::vector<std::vector<float>> a(adapters), b(adapters);
    std::vector<float*> da(adapters), db(adapters);
    int max_rank = 0;
    for (int i = 0; i < adapters; ++i) {
        a[i] = random_matrix(ranks_host[i], n);
        b[i] = random_matrix(m, ranks_host[i]);
        da[i] = to_device(a[i]);
        db[i] = to_device(b[i]);
        max_rank = std::max(max_rank, ranks_host[i]);
    }
    const int ldx = n + pad, ldz = max_rank + pad, ldy = m + pad;
    std::vector<int> which(layout_rows);
    for (int t = 0; t < layout_rows; ++t) {
        which[t] = int(rng() % (adapters + 2)) - 1;  // -1 .. adapters (past the table)
        if (segmented && rng() % 4 != 0) which[t] = int((long long)t * adapters / layout_rows);
    }
    auto x = random_matrix(rows, n), y = random_matrix(rows, m);
    std::vector<float> want = y;
    std::vector<const float*> ha(da.begin(), da.end()), hb(db.begin(), db.end());
    jnora::reference::grouped_lowrank(rows, n, m, x.data(), which.data(), adapters, ha.data(), hb.data(), ranks_host,
                                      scales.data(), want.data());
    std::vector<float> xp(size_t(rows) * ldx, NAN), yp(size_t(rows) * ldy, -7.0f);
    for (int t = 0; t < rows; ++t) {
        std::copy_n(x.begin() + size_t(t) * n, n, xp.begin() + size_t(t) * ldx);
        std::copy_n(y.begin() + size_t(t) * m, m, yp.begin() + size_t(t) * ldy);
    }
    float *dx = to_device(xp), *dy = to_device(yp);
    float *dz = to_device(std::vector<float>(size_t(splits) * rows * ldz, NAN));
    float *dscales = to_device(scales);
    int *dwhich = nullptr, *dranks = nullptr;
    const float **dpa = nullptr, **dpb = nullptr;
    cudaMalloc(&dwhich, sizeof(int) * std::max(1, rows));
    cudaMalloc(&dranks, sizeof(int) * adapters);
    cudaMalloc(&dpa, sizeof(float*) * adapters);
    cudaMalloc(&dpb, sizeof(float*) * adapters);
    cudaMemcpy(dwhich, which.data(), sizeof(int) * rows, cudaMemcpyHostToDevice);
    cudaMemcpy(dranks, ranks_host, sizeof(int) * adapters, cudaMemcpyHostToDevice);
    cudaMemcpy(dpa, ha.data(), sizeof(float*) * adapters, cudaMemcpyHostToDevice);
    cudaMemcpy(dpb, hb.data(), sizeof(float*) * adapters, cudaMemcpyHostToDevice);
    jnora_status_t st;
    int *dorder = nullptr, *dtiles = nullptr;
    if (segmented) {
        const int max_tiles = jnora_segment_tiles_capacity(rows, adapters);
        if (layout_rows == rows) {  // as the library runs it: the layout made on the device
            st = device_layout(h, rows, dwhich, adapters, max_tiles, &dorder, &dtiles);
        } else {  // a host layout for more rows than the kernels are given
            const int layout_tiles = jnora_segment_tiles_capacity(layout_rows, adapters);
            std::vector<int> order(std::max(1, layout_rows), -1), tiles(1 + 3 * size_t(layout_tiles), -1);
            st = jnora_segment_layout(layout_rows, which.data(), adapters, order.data(), tiles.data(), layout_tiles);
            dorder = to_device_ints(order);
            dtiles = to_device_ints(tiles);
        }
        if (st == JNORA_STATUS_SUCCESS)
            st = jnora_segmented_shrink(h, rows, n, dx, ldx, dorder, dtiles, max_tiles, adapters, dpa, dranks,
                                        max_rank, splits, dz, ldz);
        if (st == JNORA_STATUS_SUCCESS)
            st = jnora_segmented_expand(h, rows, m, dz, ldz, splits, dorder, dtiles, max_tiles, adapters, dpb, dranks,
                                        dscales, dy, ldy);
    } else {
        st = jnora_grouped_shrink(h, rows, n, dx, ldx, dwhich, adapters, dpa, dranks, max_rank, splits, dz, ldz);
        if (st == JNORA_STATUS_SUCCESS)
            st = jnora_grouped_expand(h, rows, m, dz, ldz, splits, dwhich, adapters, dpb, dranks, dscales, dy, ldy);
    }
    if (st == JNORA_STATUS_SUCCESS && cudaDeviceSynchronize() != cudaSuccess) st = JNORA_STATUS_CUDA_ERROR;
    auto got_padded = to_host(dy, yp.size());
    std::vector<float> got(y.size());
    bool untouched = true;
    for (int t = 0; t < rows; ++t) {
        std::copy_n(got_padded.begin() + size_t(t) * ldy, m, got.begin() + size_t(t) * m);
        for (int j = m; j < ldy; ++j) untouched = untouched && got_padded[size_t(t) * ldy + j] == -7.0f;
        if (which[t] < 0 || which[t] >= adapters)
            untouched = untouched && std::memcmp(&got[size_t(t) * m], &y[size_t(t) * m], sizeof(float) * m) == 0;
    }
    char name[128];
    std::snprintf(name, sizeof name, "%s shrink+expand T=%d n=%d m=%d A=%d splits=%d pad=%d%s",
                  segmented ? "segmented" : "grouped", rows, n, m, adapters, splits, pad,
                  layout_rows > rows ? " layout+" : "");
    expect_close(name, got, want, st);
    std::printf("%-60s %s\n", "  rows without an adapter and Y's padding untouched", untouched ? "ok  " : "FAIL");
    (untouched ? passed : failed)++;
    for (int i = 0; i < adapters; ++i) { cudaFree(da[i]); cudaFree(db[i]); }
    cudaFree(dx); cudaFree(dy); cudaFree(dz); cudaFree(dscales); cudaFree(dwhich); cudaFree(dranks);
    cudaFree(dpa); cudaFree(dpb); cudaFree(dorder); cudaFree(dtiles);
    jnora_destroy(h);
}

// Decode forward (T <= 16): W, A, B with padded leading dimensions, Y and Z poisoned, every TT
// instantiation (rows 1..16), k = 0 (no adapter), odd n and m, splits forced and chosen.
void check_decode(int rows, int m, int n, int k, int splits) {
    jnora_handle_t h;
    jnora_create(&h);
    if (splits == 0) splits = jnora_decode_splits(rows, n, k);
    const int ldx = n + 3, ldw = n + 5, lda = n + 1, ldb = k + 2, ldy = m + 7;
    auto x = random_matrix(rows, ldx), w = random_matrix(m, ldw), a = random_matrix(std::max(k, 1), lda);
    auto b = random_matrix(m, ldb);
    std::vector<float> want(size_t(rows) * ldy, NAN);
    const float scale = 0.75f;
    jnora::reference::decode_forward(rows, m, n, x.data(), ldx, w.data(), ldw, k, scale, a.data(), lda, b.data(), ldb,
                                     want.data(), ldy);
    float *dx = to_device(x), *dw = to_device(w), *da = to_device(a), *db = to_device(b);
    float *dy = to_device(std::vector<float>(size_t(rows) * ldy, NAN));
    float *dz = to_device(std::vector<float>(size_t(splits) * rows * std::max(k, 1), NAN));
    jnora_status_t st = jnora_decode_forward(h, rows, m, n, dx, ldx, dw, ldw, k, scale, da, lda, db, ldb, splits, dz,
                                             dy, ldy);
    cudaDeviceSynchronize();
    auto got = to_host(dy, want.size());
    std::vector<float> g, wnt;  // the written columns only: padding stays NaN in both
    for (int t = 0; t < rows; ++t)
        for (int j = 0; j < m; ++j) {
            g.push_back(got[size_t(t) * ldy + j]);
            wnt.push_back(want[size_t(t) * ldy + j]);
        }
    char name[128];
    std::snprintf(name, sizeof name, "decode forward T=%d m=%d n=%d k=%d splits=%d", rows, m, n, k, splits);
    expect_close(name, g, wnt, st);
    cudaFree(dx); cudaFree(dw); cudaFree(da); cudaFree(db); cudaFree(dy); cudaFree(dz);
    jnora_destroy(h);
}

// Precision conversion: float32 -> half -> float32 on the device against the host's rounding of the
// same values (the cuda_bf16/cuda_fp16 conversions run on the host too), over odd lengths and
// values past half's range; also half -> half copies through float.
void check_convert(long long n) {
    jnora_handle_t h;
    jnora_create(&h);
    auto x = random_matrix(1, int(n));
    for (long long i = 0; i < n; i += 7) x[i] *= 1e5f;  // beyond float16's 65504: infinity there
    float* dx = to_device(x);
    for (jnora_precision_t p : {JNORA_BFLOAT16, JNORA_FLOAT16}) {
        void* dh = nullptr;
        cudaMalloc(&dh, std::max<long long>(1, n) * 2);
        float* back = to_device(std::vector<float>(size_t(n), NAN));
        jnora_status_t st = jnora_convert(h, n, JNORA_FLOAT32, dx, p, dh);
        if (st == JNORA_STATUS_SUCCESS) st = jnora_convert(h, n, p, dh, JNORA_FLOAT32, back);
        cudaDeviceSynchronize();
        auto got = to_host(back, size_t(n));
        long long wrong = 0;
        for (long long i = 0; i < n; ++i) {
            float want = p == JNORA_BFLOAT16 ? __bfloat162float(__float2bfloat16_rn(x[i])) : __half2float(__float2half_rn(x[i]));
            if (!(got[i] == want || (std::isnan(got[i]) && std::isnan(want)))) ++wrong;
        }
        char name[128];
        std::snprintf(name, sizeof name, "convert float32 <-> %s n=%lld", p == JNORA_BFLOAT16 ? "bf16" : "f16", n);
        bool ok = st == JNORA_STATUS_SUCCESS && wrong == 0;
        std::printf("%-60s %s wrong=%lld%s\n", name, ok ? "ok  " : "FAIL", wrong, st == JNORA_STATUS_SUCCESS ? "" : jnora_last_error());
        (ok ? passed : failed)++;
        cudaFree(dh);
        cudaFree(back);
    }
    cudaFree(dx);
    jnora_destroy(h);
}

// The decode forward in a half precision: operands rounded on the host, the reference computed from
// the rounded values in double; Y is rounded once on the device, so SPEC §4's 1e-2 applies.
template <typename H>
void check_decode_half(jnora_precision_t precision, int rows, int m, int n, int k, int splits) {
    jnora_handle_t h;
    jnora_create(&h);
    if (splits == 0) splits = jnora_decode_splits(rows, n, k);
    const int ldx = n + 1, ldw = n + 3, lda = n, ldb = k + 1, ldy = m + 2;
    // Inputs scaled by 1/16: outlier columns (up to 100x) on both sides of a 1031-term dot product
    // would otherwise overflow float16's 65504 now and then; the kernel is not what that would test.
    auto round_trip = [&](std::vector<float> v, std::vector<H>& bits) {
        bits.resize(v.size());
        for (size_t i = 0; i < v.size(); ++i) {
            v[i] *= 0.0625f;
            if constexpr (std::is_same_v<H, __nv_bfloat16>) {
                bits[i] = __float2bfloat16_rn(v[i]);
                v[i] = __bfloat162float(bits[i]);
            } else {
                bits[i] = __float2half_rn(v[i]);
                v[i] = __half2float(bits[i]);
            }
        }
        return v;
    };
    std::vector<H> hx, hw, ha, hb, hy;
    auto x = round_trip(random_matrix(rows, ldx), hx), w = round_trip(random_matrix(m, ldw), hw);
    auto a = round_trip(random_matrix(std::max(k, 1), lda), ha), b = round_trip(random_matrix(m, ldb), hb);
    std::vector<float> want(size_t(rows) * ldy, 0.0f);
    const float scale = 0.5f;
    jnora::reference::decode_forward(rows, m, n, x.data(), ldx, w.data(), ldw, k, scale, a.data(), lda, b.data(), ldb,
                                     want.data(), ldy);
    auto upload = [](const std::vector<H>& v) {
        void* d = nullptr;
        cudaMalloc(&d, std::max<size_t>(1, v.size()) * sizeof(H));
        cudaMemcpy(d, v.data(), v.size() * sizeof(H), cudaMemcpyHostToDevice);
        return d;
    };
    round_trip(std::vector<float>(size_t(rows) * ldy, NAN), hy);
    void *dx = upload(hx), *dw = upload(hw), *da = upload(ha), *db = upload(hb), *dy = upload(hy);
    float* dz = to_device(std::vector<float>(size_t(splits) * rows * std::max(k, 1), NAN));
    jnora_status_t st = jnora_decode_forward_half(h, precision, rows, m, n, dx, ldx, dw, ldw, k, scale, da, lda, db, ldb,
                                                  splits, dz, dy, ldy);
    cudaDeviceSynchronize();
    cudaMemcpy(hy.data(), dy, hy.size() * sizeof(H), cudaMemcpyDeviceToHost);
    std::vector<float> g, wnt;
    for (int t = 0; t < rows; ++t)
        for (int j = 0; j < m; ++j) {
            const H v = hy[size_t(t) * ldy + j];
            if constexpr (std::is_same_v<H, __nv_bfloat16>) g.push_back(__bfloat162float(v));
            else g.push_back(__half2float(v));
            wnt.push_back(want[size_t(t) * ldy + j]);
        }
    char name[128];
    std::snprintf(name, sizeof name, "decode forward %s T=%d m=%d n=%d k=%d splits=%d",
                  precision == JNORA_BFLOAT16 ? "bf16" : "f16", rows, m, n, k, splits);
    expect_close(name, g, wnt, st, 1e-2);
    for (void* p : {dx, dw, da, db, dy}) cudaFree(p);
    cudaFree(dz);
    jnora_destroy(h);
}

// Grouped and segment-grouped kernels in a half precision: X, the factors and Y rounded on the host,
// the reference computed from the rounded values in double; each element of Y is rounded once on the
// device, so SPEC §4's 1e-2 applies. Mixed ranks 1..33, rows with none and past the table.
template <typename H>
void check_grouped_half(jnora_precision_t precision, int rows, int n, int m, bool segmented) {
    jnora_handle_t h;
    jnora_create(&h);
    const int ranks_host[] = {1, 5, 16, 33};
    const int adapters = 4, max_rank = 33;
    std::vector<float> scales = {0.5f, 1.0f, 2.0f, 0.25f};
    // X and Y scaled by 1/16, the factors by 1/64: outlier columns (up to 100x) on X, A and B at once
    // would otherwise push the adapter term past float16's 65504 now and then (seen: 1.2e5), and an
    // overflow is not what this checks.
    auto round_trip = [&](std::vector<float> v, std::vector<H>& bits, float scale = 0.0625f) {
        bits.resize(v.size());
        for (size_t i = 0; i < v.size(); ++i) {
            v[i] *= scale;
            if constexpr (std::is_same_v<H, __nv_bfloat16>) {
                bits[i] = __float2bfloat16_rn(v[i]);
                v[i] = __bfloat162float(bits[i]);
            } else {
                bits[i] = __float2half_rn(v[i]);
                v[i] = __half2float(bits[i]);
            }
        }
        return v;
    };
    auto upload = [](const std::vector<H>& v) {
        void* d = nullptr;
        cudaMalloc(&d, std::max<size_t>(1, v.size()) * sizeof(H));
        cudaMemcpy(d, v.data(), v.size() * sizeof(H), cudaMemcpyHostToDevice);
        return d;
    };
    std::vector<std::vector<float>> a(adapters), b(adapters);
    std::vector<void*> da(adapters), db(adapters);
    for (int i = 0; i < adapters; ++i) {
        std::vector<H> bits;
        a[i] = round_trip(random_matrix(ranks_host[i], n), bits, 1.0f / 64);
        da[i] = upload(bits);
        b[i] = round_trip(random_matrix(m, ranks_host[i]), bits, 1.0f / 64);
        db[i] = upload(bits);
    }
    std::vector<int> which(rows);
    for (int t = 0; t < rows; ++t) {
        which[t] = int(rng() % (adapters + 2)) - 1;
        if (segmented && rng() % 4 != 0) which[t] = int((long long)t * adapters / rows);
    }
    std::vector<H> hx, hy;
    auto x = round_trip(random_matrix(rows, n), hx), y = round_trip(random_matrix(rows, m), hy);
    std::vector<float> want = y;
    std::vector<const float*> ha, hb;
    for (int i = 0; i < adapters; ++i) { ha.push_back(a[i].data()); hb.push_back(b[i].data()); }
    jnora::reference::grouped_lowrank(rows, n, m, x.data(), which.data(), adapters, ha.data(), hb.data(), ranks_host,
                                      scales.data(), want.data());
    void *dx = upload(hx), *dy = upload(hy);
    const int splits = segmented ? jnora_segmented_splits(rows, n, max_rank) : jnora_grouped_splits(rows, n, max_rank);
    float* dz = to_device(std::vector<float>(size_t(splits) * rows * max_rank, NAN));
    float* dscales = to_device(scales);
    int* dwhich = to_device_ints(which);
    int* dranks = to_device_ints(std::vector<int>(ranks_host, ranks_host + adapters));
    const void **dpa = nullptr, **dpb = nullptr;
    cudaMalloc(&dpa, sizeof(void*) * adapters);
    cudaMalloc(&dpb, sizeof(void*) * adapters);
    cudaMemcpy(dpa, da.data(), sizeof(void*) * adapters, cudaMemcpyHostToDevice);
    cudaMemcpy(dpb, db.data(), sizeof(void*) * adapters, cudaMemcpyHostToDevice);
    jnora_status_t st;
    int *dorder = nullptr, *dtiles = nullptr;
    if (segmented) {
        const int max_tiles = jnora_segment_tiles_capacity(rows, adapters);
        st = device_layout(h, rows, dwhich, adapters, max_tiles, &dorder, &dtiles);
        if (st == JNORA_STATUS_SUCCESS)
            st = jnora_segmented_shrink_half(h, precision, rows, n, dx, n, dorder, dtiles, max_tiles, adapters, dpa,
                                             dranks, max_rank, splits, dz, max_rank);
        if (st == JNORA_STATUS_SUCCESS)
            st = jnora_segmented_expand_half(h, precision, rows, m, dz, max_rank, splits, dorder, dtiles, max_tiles,
                                             adapters, dpb, dranks, dscales, dy, m);
    } else {
        st = jnora_grouped_shrink_half(h, precision, rows, n, dx, n, dwhich, adapters, dpa, dranks, max_rank, splits,
                                       dz, max_rank);
        if (st == JNORA_STATUS_SUCCESS)
            st = jnora_grouped_expand_half(h, precision, rows, m, dz, max_rank, splits, dwhich, adapters, dpb, dranks,
                                           dscales, dy, m);
    }
    if (st == JNORA_STATUS_SUCCESS && cudaDeviceSynchronize() != cudaSuccess) st = JNORA_STATUS_CUDA_ERROR;
    cudaMemcpy(hy.data(), dy, hy.size() * sizeof(H), cudaMemcpyDeviceToHost);
    std::vector<float> got(hy.size());
    for (size_t i = 0; i < hy.size(); ++i) {
        if constexpr (std::is_same_v<H, __nv_bfloat16>) got[i] = __bfloat162float(hy[i]);
        else got[i] = __half2float(hy[i]);
    }
    char name[128];
    std::snprintf(name, sizeof name, "%s %s T=%d n=%d m=%d ranks 1..33 splits=%d", segmented ? "segmented" : "grouped",
                  precision == JNORA_BFLOAT16 ? "bf16" : "f16", rows, n, m, splits);
    expect_close(name, got, want, st, 1e-2);
    for (int i = 0; i < adapters; ++i) { cudaFree(da[i]); cudaFree(db[i]); }
    cudaFree(dx); cudaFree(dy); cudaFree(dz); cudaFree(dscales); cudaFree(dwhich); cudaFree(dranks);
    cudaFree(dpa); cudaFree(dpb); cudaFree(dorder); cudaFree(dtiles);
    jnora_destroy(h);
}

int main() {
    int devices = 0;
    if (jnora_cuda_device_count(&devices) != JNORA_STATUS_SUCCESS) {
        std::printf("no CUDA device: %s\n0 passed, 0 failed, 1 skipped\n", jnora_last_error());
        return 0;
    }
    const int shapes[][3] = {{1, 64, 1024}, {3, 17, 33}, {17, 1, 5}, {128, 63, 257}, {1000, 29, 100},
                             {65, 130, 1}, {256, 1024, 64}};
    for (auto version : {jnora::GemmVersion::Naive, jnora::GemmVersion::Tiled})
        for (const auto& s : shapes)
            for (bool qt : {false, true})
                for (float beta : {0.0f, 1.0f}) check_gemm(version, s[0], s[1], s[2], qt, beta);
    const int inner_shapes[][3] = {{1, 64, 16}, {3, 17, 17}, {17, 33, 1}, {128, 256, 16}, {1000, 7, 3}};
    for (const auto& s : inner_shapes) check_inner(s[0], s[1], s[2]);
    // rows x cols x padding: T of SPEC §4, odd widths, one column, many chunks of a narrow batch
    // (100003 x 3: 1563 chunks), a wide one (300 x 4099: 5 chunks), and an empty batch (zeros).
    const int stats_shapes[][3] = {{1, 1, 0},    {1, 37, 3},     {3, 130, 0},   {17, 257, 5},
                                   {128, 96, 0}, {1000, 75, 1},  {1000, 1, 0},  {4099, 33, 7},
                                   {100003, 3, 0}, {300, 4099, 0}, {256, 1024, 0}, {0, 5, 0}};
    for (auto version : {jnora::StatsVersion::Naive, jnora::StatsVersion::Chunked})
        for (const auto& s : stats_shapes) check_stats(version, s[0], s[1], s[2]);
    check_stats_arguments();
    check_wrappers_with_padding();
    const int grouped_shapes[][3] = {{1, 64, 48}, {3, 37, 29}, {17, 130, 257}, {128, 96, 64}, {1000, 75, 53}};
    for (const auto& g : grouped_shapes)
        for (int splits : {1, 0, 3, 7}) check_grouped(g[0], g[1], g[2], splits);
    check_grouped(1, 4096, 512, 0);  // the decode shape split-K is for (32 slices)
    check_grouped(2, 9, 64, 4);       // slices of 3: the last one starts at n and writes zeros
    check_grouped(19, 130, 45, 3, 5);  // padded X, Z and Y
    check_grouped(3, 1031, 40, 0, 1);
    // 257 adapters and more: the layout kernel's threads own several adapters each (256 threads).
    for (int mode = 0; mode < 4; ++mode)
        for (const auto& ra : {std::pair<int, int>{0, 3}, {1, 1}, {5, 3}, {64, 1}, {65, 1}, {130, 200}, {1000, 7},
                               {300, 257}, {1000, 513}, {2000, 70001}})
            check_segment_layout(ra.first, ra.second, mode);
    check_segment_layout(17, 0, 0);  // rows but no adapter slots: no tiles
    // Segment-grouped: one row, tiles cut at 64, empty slices past n, padding, a long reduction.
    const int segmented_shapes[][3] = {{1, 64, 48}, {3, 37, 29}, {70, 130, 257}, {128, 96, 64}, {1000, 75, 53}};
    for (const auto& g : segmented_shapes)
        for (int splits : {1, 0, 3}) check_grouped(g[0], g[1], g[2], splits, 0, true);
    check_grouped(2, 9, 64, 4, 0, true);      // slices of 32 past n = 9: three write zeros
    check_grouped(257, 130, 45, 2, 5, true);  // padded X, Z and Y
    check_grouped(300, 1031, 130, 0, 1, true);
    check_grouped(150, 70, 90, 0, 0, true, 100);  // ~100 tiles on a grid of 3 + 32: blocks take several
    check_grouped(150, 70, 90, 0, 0, false, 100);
    check_grouped(400, 70, 90, 0, 0, true, 300);  // 300 slots: the layout kernel's threads own two each
    check_grouped(100, 70, 90, 0, 0, true, 4, 200);  // a layout of 200 rows on kernels given 100
    check_grouped(17, 300, 65, 0, 1, true, 30, 64);
    check_grouped(3, 1031, 40, 0, 1, false, 4, 0, 64);   // ranks 1, 5, 16 and 64, row at a time
    check_grouped(200, 130, 70, 0, 2, true, 8, 0, 64);   // and segment-grouped
    for (bool segmented : {false, true})
        for (const auto& g : {std::array<int, 3>{3, 1031, 97}, {200, 130, 257}}) {
            check_grouped_half<__nv_bfloat16>(JNORA_BFLOAT16, g[0], g[1], g[2], segmented);
            check_grouped_half<__half>(JNORA_FLOAT16, g[0], g[1], g[2], segmented);
        }
    for (int rows : {1, 2, 3, 4, 5, 8, 9, 16})
        for (int k : {0, 1, 16, 33}) check_decode(rows, 97, 1031, k, 0);
    check_decode(1, 4096, 4096, 16, 0);  // NoRA's shape at T = 1
    check_decode(16, 300, 513, 64, 7);   // n one past a chunk; forced splits
    check_decode(3, 1, 2, 2, 2);         // one output, n = 2 split in two
    check_decode(4, 40, 50, 512, 1);     // the largest rank the staging holds
    for (long long n : {1LL, 7LL, 1000LL, 1048577LL}) check_convert(n);
    for (int rows : {1, 3, 16})
        for (int k : {0, 16}) {
            check_decode_half<__nv_bfloat16>(JNORA_BFLOAT16, rows, 97, 1031, k, 0);
            check_decode_half<__half>(JNORA_FLOAT16, rows, 97, 1031, k, 0);
        }
    check_decode_half<__nv_bfloat16>(JNORA_BFLOAT16, 1, 4096, 4096, 16, 0);
    std::vector<long long> many;
    for (int t = 0; t < 300; ++t) many.push_back(33 + (t * 97) % 2000);
    const std::vector<std::vector<long long>> lists = {
        {}, {1}, {0, 5, 0}, {4096}, {4097, 3, 12289}, {17, 100000, 1, 8191}, {256 * 16, 16 * 256}, many};
    for (auto version : {jnora::MultiTensorVersion::PerTensor, jnora::MultiTensorVersion::MultiTensor})
        for (const auto& l : lists) {
            check_adamw(version, l);
            check_sum_of_squares(version, l);
        }
    for (long long n : {1LL, 3LL, 1000LL, 65537LL, 4000000LL}) check_multiply_add(n);
    check_training_arguments();
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
