// gx_fused_34e5ed5935610ac3(int16 v0, int16 v1) -> (int16 out0)
short m0;
short m1;
short m2;
m0 = ((short)(((long long)v0) * ((long long)v1)));
m1 = ((short)(gx_iabs(m0)));
m2 = ((short)((m1 > 0) ? ((short)1) : ((m1 < 0) ? ((short)(-1)) : ((short)0))));
out0 = m2;
