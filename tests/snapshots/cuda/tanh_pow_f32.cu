// gx_fused_6674c4786bd3fab7(float32 v0, float32 v1) -> (float32 out0)
#ifdef __CUDACC__
#define GX_FN __device__ __forceinline__
#define GX_F32(bits) __int_as_float(bits)
#define GX_F64(bits) __longlong_as_double(bits)
#else
#include <cstring>
#define GX_FN static inline
static inline float GX_F32(unsigned int b) { float f; std::memcpy(&f, &b, 4); return f; }
static inline double GX_F64(unsigned long long b) { double d; std::memcpy(&d, &b, 8); return d; }
#endif
template <typename T> GX_FN T gx_iabs(T x) { return x < 0 ? -x : x; }

double ax0;
double r0;
double e0;
float m0;
float m1;
ax0 = fabs(((double)v0));
if (ax0 > 9.1) {
    r0 = 1.0;
} else {
    if (ax0 > 0.25) {
        e0 = exp(((-2.0) * ax0));
        r0 = ((1.0 - e0) / (1.0 + e0));
    } else {
        r0 = tanh(ax0);
    }
}
m0 = ((float)(copysign(r0, ((double)v0))));
m1 = ((float)((v1 == 0.5) ? sqrt(m0) : ((v1 == 2.0) ? (m0 * m0) : ((v1 == (-1.0)) ? (1.0 / m0) : pow(m0, v1)))));
out0 = m1;
