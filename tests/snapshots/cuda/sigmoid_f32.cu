// gx_fused_375654a5f6600209(float32 v0) -> (float32 out0)
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

float s0_0;
float s0_1;
float s0_2;
float s0_3;
float s0_4;
bool s0_5;
float s0_6;
float s0_7;
float m0;
s0_0 = ((float)(fabs(v0)));
s0_1 = ((float)(-s0_0));
s0_2 = ((float)(exp(s0_1)));
s0_3 = ((float)(1e+00f + s0_2));
s0_4 = ((float)(1e+00f / s0_3));
s0_5 = (v0 >= 0e+00f);
s0_6 = ((float)(s0_2 * s0_4));
s0_7 = (s0_5 ? s0_4 : s0_6);
m0 = ((float)s0_7);
out0 = m0;
