// gx_fused_6674c4786bd3fab7(float32 v0, float32 v1) -> (float32 out0)
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
