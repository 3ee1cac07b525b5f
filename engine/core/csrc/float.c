/* Redis computes INCRBYFLOAT (and HINCRBYFLOAT) in C `long double` (x87
 * 80-bit on x86-64) and prints with "%.17Lf" then trims zeros. Rust has no
 * f80, so these few lines use the C compiler's long double to give the same
 * bytes as Redis. Pure functions: no I/O, no globals. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* Redis's string2ld. Returns 1 on success. */
static int string2ld(const char *s, size_t slen, long double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    long double value;
    char *eptr;
    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' ||
        (size_t)(eptr - buf) != slen ||
        ((errno == ERANGE) &&
         (value == HUGE_VALL || value == -HUGE_VALL || fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;
    if (dp) *dp = value;
    return 1;
}

/* Redis's ld2string in LD_STR_HUMAN mode. Returns length or 0 on error. */
static int ld2string_human(char *buf, size_t len, long double value) {
    int l;
    if (isinf(value)) {
        if (len < 5) return 0;
        if (value > 0) { memcpy(buf, "inf", 3); l = 3; }
        else { memcpy(buf, "-inf", 4); l = 4; }
        return l;
    }
    l = snprintf(buf, len, "%.17Lf", value);
    if (l < 0 || (size_t)l + 1 > len) return 0;
    if (strchr(buf, '.') != NULL) {
        char *p = buf + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') { buf[0] = '0'; l = 1; }
    return l;
}

/* Returns 0 ok, 1 current value not a float, 2 increment not a float,
 * 3 result NaN/Inf, 4 output buffer too small. */
int redsim_ld_incr(const char *a, size_t alen, const char *b, size_t blen,
                   char *out, size_t outcap, size_t *outlen) {
    long double va, vb;
    if (!string2ld(a, alen, &va)) return 1;
    if (!string2ld(b, blen, &vb)) return 2;
    va += vb;
    if (isnan(va) || isinf(va)) return 3;
    int l = ld2string_human(out, outcap, va);
    if (l <= 0) return 4;
    *outlen = (size_t)l;
    return 0;
}

/* Returns 1 if the string parses as a long double the way Redis accepts. */
int redsim_ld_valid(const char *a, size_t alen) {
    return string2ld(a, alen, NULL);
}

/* "%.17g" of a double, as Redis's addReplyDouble / d2string use. */
int redsim_fmt_g17(double v, char *out, size_t outcap) {
    int l = snprintf(out, outcap, "%.17g", v);
    return l;
}

/* Redis's string2d (strtod with its rejections). Returns 1 on success. */
int redsim_string2d(const char *s, size_t slen, double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *eptr;
    double value;
    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    if (isspace((unsigned char)buf[0])) return 0;
    errno = 0;
    value = strtod(buf, &eptr);
    if (eptr[0] != '\0' || (size_t)(eptr - buf) != slen ||
        (errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL || fpclassify(value) == FP_ZERO)) ||
        isnan(value))
        return 0;
    *dp = value;
    return 1;
}
