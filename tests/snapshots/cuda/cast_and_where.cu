// gx_fused_e231fd6a5c4ede8c(float32 v0, bool v1) -> (int8 out0)
signed char m0;
signed char m1;
m0 = ((signed char)(((v0 >= (-128.0)) && (v0 < 128.0)) ? ((signed char)v0) : ((v0 > 0) ? ((signed char)127) : ((v0 < 0) ? ((signed char)(((long long)(-127)) - ((long long)1))) : ((signed char)0)))));
m1 = ((signed char)(v1 ? m0 : ((signed char)(-1))));
out0 = m1;
