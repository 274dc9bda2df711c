// gx_fused_cc54eba0e6975913(float64 v0) -> (float64 out0)
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

double s0_0;
double s0_1;
double s0_2;
double s0_3;
double s0_4;
double s0_5;
double s0_6;
double s0_7;
double s0_8;
double s0_9;
double s0_10;
double s0_11;
double s0_12;
double s0_13;
double s0_14;
double s0_15;
double s0_16;
bool s0_17;
double s0_18;
double s0_19;
double m0;
s0_0 = ((double)(fabs(v0)));
s0_1 = (((s0_0 < 2.5e+00) || (s0_0 != s0_0)) ? s0_0 : 2.5e+00);
s0_2 = ((double)(s0_1 * s0_1));
s0_3 = 6.891075419916574e-48;
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 2.7219747908670468e-46));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.0479602944838131e-44));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 3.929851104314299e-43));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.434395653074719e-41));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 5.092104568415253e-40));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.7567760761032622e-38));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 5.885199854945928e-37));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.9126899528574269e-35));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 6.024973351500894e-34));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.8376168722077724e-32));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 5.42096977301293e-31));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.5449763853086848e-29));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 4.248685059598884e-28));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.1259015407937041e-26));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 2.8710489290239454e-25));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 7.034069876108667e-24));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.6530064208855367e-22));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 3.719264446992458e-21));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 7.996418561033783e-20));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.6392658050119257e-18));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 3.196568319773255e-17));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 5.913651391580522e-16));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.0348889935265912e-14));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.7075668393188757e-13));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 2.6467286009442573e-12));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 3.8377564713691727e-11));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 5.180971236348383e-10));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 6.476214045435479e-09));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 7.447646152250801e-08));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 7.820028459863341e-07));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 7.4290270368701745e-06));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 6.314672981339648e-05));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 4.736004736004736e-04));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 3.0784030784030783e-03));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1.6931216931216932e-02));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 7.61904761904762e-02));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 2.6666666666666666e-01));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 6.666666666666666e-01));
s0_3 = ((double)(((double)(s0_3 * s0_2)) + 1e+00));
s0_4 = ((double)(s0_1 * s0_3));
s0_5 = ((double)(-s0_2));
s0_6 = ((double)(exp(s0_5)));
s0_7 = ((double)(s0_4 * s0_6));
s0_8 = ((double)(s0_7 * 1.1283791670955126e+00));
s0_9 = (((s0_0 > 2.5e+00) || (s0_0 != s0_0)) ? s0_0 : 2.5e+00);
s0_10 = s0_9;
s0_10 = ((double)(((double)(1.5e+01 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1.45e+01 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1.4e+01 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1.35e+01 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1.3e+01 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1.25e+01 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1.2e+01 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1.15e+01 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1.1e+01 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1.05e+01 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1e+01 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(9.5e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(9e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(8.5e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(8e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(7.5e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(7e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(6.5e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(6e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(5.5e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(5e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(4.5e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(4e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(3.5e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(3e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(2.5e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(2e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1.5e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(1e+00 / s0_10)) + s0_9));
s0_10 = ((double)(((double)(5e-01 / s0_10)) + s0_9));
s0_11 = ((double)(-s0_9));
s0_12 = ((double)(s0_11 * s0_9));
s0_13 = ((double)(exp(s0_12)));
s0_14 = ((double)(s0_10 * 1.7724538509055159e+00));
s0_15 = ((double)(s0_13 / s0_14));
s0_16 = ((double)(1e+00 - s0_15));
s0_17 = (s0_0 < 2.5e+00);
s0_18 = (s0_17 ? s0_8 : s0_16);
s0_19 = ((double)(copysign(s0_18, v0)));
m0 = ((double)s0_19);
out0 = m0;
