/* sung plot: the curves of a training run (RUNDIR/log.csv) as an SVG: the loss terms
 * against the step (log scale; faint per step, bold as a running mean over about 2 % of
 * the run, since a step's loss varies with its batch), and the validation PSNR. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double *x, *y;
    int n, cap;
} series;

static int add(series *s, double x, double y)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        double *nx = realloc(s->x, cap * sizeof *nx);
        if (!nx) return -1;
        s->x = nx;
        double *ny = realloc(s->y, cap * sizeof *ny);
        if (!ny) return -1;
        s->y = ny, s->cap = cap;
    }
    s->x[s->n] = x, s->y[s->n] = y, s->n++;
    return 0;
}

/* A round tick spacing (1, 2 or 5 × 10^k) giving about `want` ticks over range */
static double tick_step(double range, int want)
{
    double raw = range / want, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

/* One panel: the series in a box at (x0, y0, w, h) against the steps xmin … xmax (the
 * same in every panel, so that they line up), y on a log scale if asked. */
static void panel(FILE *f, const char *title, series *s, const char *const *names, const char *const *colours,
                  int ns, double xmin, double xmax, double x0, double y0, double w, double h, int logy, int smooth)
{
    double ymin = INFINITY, ymax = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            double y = logy ? log10(s[k].y[i]) : s[k].y[i];
            if (!isfinite(y)) continue;
            ymin = fmin(ymin, y), ymax = fmax(ymax, y);
        }
    fprintf(f, "<rect x='%g' y='%g' width='%g' height='%g' fill='none' stroke='#888'/>\n", x0, y0, w, h);
    fprintf(f, "<text x='%g' y='%g' font-size='14'>%s</text>\n", x0, y0 - 8, title);
    if (!(ymin < INFINITY)) {
        fprintf(f, "<text x='%g' y='%g' font-size='12'>no data</text>\n", x0 + 10, y0 + 20);
        return;
    }
    if (xmax == xmin) xmax = xmin + 1;
    if (ymax == ymin) ymax = ymin + 1, ymin -= 1;
    for (int t = 0; t <= 4; t++) { /* y ticks */
        double v = ymin + (ymax - ymin) * t / 4, py = y0 + h - h * t / 4;
        fprintf(f, "<text x='%g' y='%g' font-size='10' text-anchor='end'>%.4g</text>\n", x0 - 4, py + 3,
                logy ? pow(10, v) : v);
        fprintf(f, "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='#eee'/>\n", x0, py, x0 + w, py);
    }
    double dx = tick_step(xmax - xmin, 8);
    for (double v = ceil(xmin / dx) * dx; v <= xmax; v += dx) { /* x ticks: steps */
        double px = x0 + w * (v - xmin) / (xmax - xmin);
        fprintf(f, "<line x1='%g' y1='%g' x2='%g' y2='%g' stroke='#eee'/>\n", px, y0, px, y0 + h);
        fprintf(f, "<text x='%g' y='%g' font-size='10' text-anchor='middle'>%.0f</text>\n", px, y0 + h + 14, v);
    }
    fprintf(f, "<text x='%g' y='%g' font-size='10'>step</text>\n", x0 + w + 8, y0 + h + 14);
    for (int k = 0; k < ns; k++) {
        /* the points as they are, then (smooth) their running mean over `win` points */
        int win = smooth ? s[k].n / 50 : 0;
        for (int pass = 0; pass < (win > 1 ? 2 : 1); pass++) {
            int avg = pass == 1;
            fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='%s' stroke-opacity='%s' points='", colours[k],
                    avg ? "1.8" : win > 1 ? "0.6" : "1.2", win > 1 && !avg ? "0.25" : "1");
            double sum = 0;
            for (int i = 0; i < s[k].n; i++) {
                double v = s[k].y[i];
                if (avg) { /* mean of the last `win` values (fewer at the start) */
                    sum += v;
                    if (i >= win) sum -= s[k].y[i - win];
                    v = sum / (i + 1 < win ? i + 1 : win);
                }
                double y = logy ? log10(v) : v;
                if (!isfinite(y)) continue;
                fprintf(f, "%.1f,%.1f ", x0 + w * (s[k].x[i] - xmin) / (xmax - xmin),
                        y0 + h - h * (y - ymin) / (ymax - ymin));
            }
            fprintf(f, "'/>\n");
        }
        fprintf(f, "<text x='%g' y='%g' font-size='11' fill='%s'>%s</text>\n", x0 + w + 8, y0 + 14 + 16 * k,
                colours[k], names[k]);
    }
}

int cmd_plot(int argc, char **argv)
{
    const char *out = NULL, *pos[1];
    cli_opt opts[] = {{"-o", 's', &out, "output SVG (default RUNDIR/curves.svg)"}, {0}};
    int n = cli_parse("plot", "RUNDIR [-o curves.svg]", opts, argc, argv, pos, 1);
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (n != 1) return cli_bad_value("plot", "one run directory is required");
    char path[4096], def[4096];
    snprintf(path, sizeof path, "%s/log.csv", pos[0]);
    snprintf(def, sizeof def, "%s/curves.svg", pos[0]);
    if (!out) out = def;
    size_t ol = strlen(out);
    if (ol < 4 || strcmp(out + ol - 4, ".svg")) return cli_bad_value("plot", "%s: the output is an SVG and must end in .svg", out);
    FILE *in = fopen(path, "r");
    if (!in) return cli_fail("plot", "%s: %s", path, strerror(errno));
    series s[5] = {{0}};
    char line[1024];
    int rc = 0, row = 0;
    while (fgets(line, sizeof line, in) && !rc) {
        if (row++ == 0) {
            if (strncmp(line, "step,epoch,lr,loss", 18)) rc = cli_fail("plot", "%s: not a sung training log", path);
            continue;
        }
        /* step,epoch,lr,loss,pixel,edge_aux,edge_sup,val_psnr,seconds; empty fields allowed */
        double v[9];
        int have[9] = {0}, k = 0;
        char *p = line;
        for (; k < 9; k++) {
            char *end;
            v[k] = strtod(p, &end);
            have[k] = end != p;
            p = strchr(p, ',');
            if (!p) break;
            p++;
        }
        if (!have[0]) continue;
        for (int j = 0; j < 4 && !rc; j++)
            if (have[3 + j] && v[3 + j] > 0 && add(&s[j], v[0], v[3 + j])) rc = cli_fail("plot", "out of memory");
        if (have[7] && add(&s[4], v[0], v[7])) rc = cli_fail("plot", "out of memory");
    }
    fclose(in);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    FILE *f = rc ? NULL : fopen(tmp, "w");
    if (!rc && !f) rc = cli_fail("plot", "%s: %s", tmp, strerror(errno));
    if (!rc) {
        static const char *names[] = {"total", "pixel", "edge-aux", "edge-sup", "PSNR"};
        static const char *colours[] = {"#000", "#1f77b4", "#2ca02c", "#d62728", "#9467bd"};
        fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='900' height='560' font-family='sans-serif'>\n"
                   "<rect width='100%%' height='100%%' fill='white'/>\n");
        double xmin = INFINITY, xmax = -INFINITY; /* the steps of every series */
        for (int k = 0; k < 5; k++)
            for (int i = 0; i < s[k].n; i++) xmin = fmin(xmin, s[k].x[i]), xmax = fmax(xmax, s[k].x[i]);
        if (xmax == xmin) xmax = xmin + 1;
        panel(f, "training loss (log scale; bold: running mean)", s, names, colours, 4, xmin, xmax, 70, 40, 700, 260,
              1, 1);
        panel(f, "validation PSNR (dB)", s + 4, names + 4, colours + 4, 1, xmin, xmax, 70, 350, 700, 170, 0, 0);
        fprintf(f, "</svg>\n");
        if (fclose(f) || rename(tmp, out)) rc = cli_fail("plot", "%s: %s", out, strerror(errno));
        if (rc) remove(tmp);
        else printf("wrote %s (%d training steps, %d validations)\n", out, s[0].n, s[4].n);
    }
    for (int k = 0; k < 5; k++) free(s[k].x), free(s[k].y);
    return rc;
}
