// Standalone check of every CUDA kernel version against its CPU reference, on random odd shapes
// with outlier columns and NaN-poisoned outputs (SPEC §4). Needs a GPU; prints one line per case
// and a closing "N passed, M failed". Build and run:
//     cmake -S . -B target/native && cmake --build target/native --target jnora_kernel_check
//     target/native/jnora_kernel_check
#include <cmath>
#include <cstdio>
#include <random>
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

std::vector<float> to_host(const float* d, size_t n) {
    std::vector<float> h(n);
    cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost);
    return h;
}

void expect_close(const char* name, const std::vector<float>& got, const std::vector<float>& want,
                  jnora_status_t status) {
    double num = 0, den = 0;
    bool finite = true;
    for (size_t i = 0; i < got.size(); ++i) {
        if (!std::isfinite(got[i])) finite = false;
        num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
        den += double(want[i]) * want[i];
    }
    double rel = std::sqrt(num / (den > 0 ? den : 1));
    bool ok = status == JNORA_STATUS_SUCCESS && finite && rel <= 1e-5;  // float32 vs double sums
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

}  // namespace

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
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
