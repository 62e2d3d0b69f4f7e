// The host layout of the segment-grouped (SGMV) kernels: the batch's rows gathered by adapter and cut
// into tiles of at most JNORA_SEGMENT_ROWS rows (native/cuda/segmented_lowrank.cu reads them). Plain
// C++, built with or without CUDA: the reference for the device's layout kernel
// (native/cuda/segment_layout.cu, which the library runs) and the tile capacity both share.
#include <algorithm>
#include <climits>
#include <vector>

#include "errors.h"

extern "C" {

int jnora_segment_tiles_capacity(int rows, int adapters) {
    if (rows <= 0 || adapters <= 0) return 0;
    // Σ ceil(c_a / S) over the adapters present <= ceil(rows / S) + (adapters present), and at
    // most min(rows, adapters) are present. In 64 bits: near INT_MAX rows the sum would wrap
    // negative and pass every capacity check.
    const long long tiles =
        ((long long)rows + JNORA_SEGMENT_ROWS - 1) / JNORA_SEGMENT_ROWS + std::min(rows, adapters);
    return tiles > INT_MAX ? INT_MAX : int(tiles);
}

jnora_status_t jnora_segment_layout(int rows, const int* row_adapter, int adapters, int* row_order, int* tiles,
                                    int max_tiles) {
    if (rows < 0 || adapters < 0 || max_tiles < jnora_segment_tiles_capacity(rows, adapters))
        return JNORA_FAIL(JNORA_STATUS_INVALID_VALUE,
                          "jnora_segment_layout: rows=%d adapters=%d max_tiles=%d (at least %d needed)", rows,
                          adapters, max_tiles, jnora_segment_tiles_capacity(rows, adapters));
    if (tiles == nullptr) return JNORA_FAIL(JNORA_STATUS_INVALID_VALUE, "jnora_segment_layout: tiles is NULL");
    tiles[0] = 0;
    if (rows == 0 || adapters == 0) return JNORA_STATUS_SUCCESS;
    if (row_adapter == nullptr || row_order == nullptr)
        return JNORA_FAIL(JNORA_STATUS_INVALID_VALUE, "jnora_segment_layout: NULL pointer");
    // Counting sort by adapter, stable: first[a] is where adapter a's rows start in row_order.
    std::vector<int> first(size_t(adapters) + 1, 0);
    for (int t = 0; t < rows; ++t) {
        const int a = row_adapter[t];
        if (a >= 0 && a < adapters) ++first[size_t(a) + 1];
    }
    for (int a = 0; a < adapters; ++a) first[size_t(a) + 1] += first[size_t(a)];
    std::vector<int> next(first.begin(), first.end() - 1);
    for (int t = 0; t < rows; ++t) {
        const int a = row_adapter[t];
        if (a >= 0 && a < adapters) row_order[next[size_t(a)]++] = t;
    }
    int count = 0;
    for (int a = 0; a < adapters; ++a) {
        for (int begin = first[size_t(a)]; begin < first[size_t(a) + 1]; begin += JNORA_SEGMENT_ROWS) {
            int* tile = tiles + 1 + 3 * count++;
            tile[0] = a;
            tile[1] = begin;
            tile[2] = std::min(JNORA_SEGMENT_ROWS, first[size_t(a) + 1] - begin);
        }
    }
    tiles[0] = count;
    return JNORA_STATUS_SUCCESS;
}

}  // extern "C"
