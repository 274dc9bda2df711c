// gx_fused_d01fe414165d54e0(float32 v0, float32 v1) -> (float32 out0)
float m0;
float m1;
m0 = ((float)(v0 + v1));
m1 = ((float)(((m0 > ((float)0)) || (m0 != m0)) ? m0 : ((float)0)));
out0 = m1;
