// gx_fused_2e9302c6fe76b0ce(float32 v0) -> (float32 out0)
float m0;
float m1;
float m2;
m0 = ((float)(v0 * 1e-01f));
m1 = ((float)(m0 + GX_F32(0xff800000u)));
m2 = ((float)(((m1 > 3e+38f) || (m1 != m1)) ? m1 : 3e+38f));
out0 = m2;
