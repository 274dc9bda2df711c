// gx_fused_d01fe414165d54e0(float32 v0, float32 v1) -> (float32 out0)
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

float m0;
float m1;
m0 = ((float)(v0 + v1));
m1 = ((float)(((m0 > ((float)0)) || (m0 != m0)) ? m0 : ((float)0)));
out0 = m1;
