// gx_fused_e231fd6a5c4ede8c(float32 v0, bool v1) -> (int8 out0)
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

signed char m0;
signed char m1;
m0 = ((signed char)(((v0 >= (-128.0)) && (v0 < 128.0)) ? ((signed char)v0) : ((v0 > 0) ? ((signed char)127) : ((v0 < 0) ? ((signed char)(((long long)(-127)) - ((long long)1))) : ((signed char)0)))));
m1 = ((signed char)(v1 ? m0 : ((signed char)(-1))));
out0 = m1;
