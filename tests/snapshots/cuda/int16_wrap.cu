// gx_fused_34e5ed5935610ac3(int16 v0, int16 v1) -> (int16 out0)
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

short m0;
short m1;
short m2;
m0 = ((short)(((long long)v0) * ((long long)v1)));
m1 = ((short)(gx_iabs(m0)));
m2 = ((short)((m1 > 0) ? ((short)1) : ((m1 < 0) ? ((short)(-1)) : ((short)0))));
out0 = m2;
