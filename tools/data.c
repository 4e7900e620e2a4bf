#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"

int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int filter_image(const struct dirent *e) { return e->d_name[0] != '.' && is_image_name(e->d_name); }
static int filter_png(const struct dirent *e)
{
    const char *dot = strrchr(e->d_name, '.');
    return e->d_name[0] != '.' && dot && !strcasecmp(dot, ".png");
}
static int filter_visible(const struct dirent *e) { return e->d_name[0] != '.'; }

int is_dir(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISDIR(st.st_mode);
}

int make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST) return -1;
            *p = '/';
        }
    if (mkdir(buf, 0777) && errno != EEXIST) return -1;
    return is_dir(buf) ? 0 : -1;
}

static char *join(const char *a, const char *b, const char *c, const char *d)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 4;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s/%s/%s", a, b, c, d);
    return p;
}

static int push(pairs *P, char *b, char *g)
{
    if (P->n == P->cap) {
        int cap = P->cap ? 2 * P->cap : 64;
        char **nb = realloc(P->blur, cap * sizeof *nb);
        if (nb) P->blur = nb;
        char **ng = nb ? realloc(P->sharp, cap * sizeof *ng) : NULL;
        if (ng) P->sharp = ng;
        if (!nb || !ng) return -1;
        P->cap = cap;
    }
    P->blur[P->n] = b, P->sharp[P->n] = g, P->n++;
    return 0;
}

int pairs_list(const char *cmd, const char *root, const char *blur_dir, pairs *P)
{
    memset(P, 0, sizeof *P);
    if (!is_dir(root)) return cli_fail(cmd, "%s: not a directory", root);
    struct dirent **seqs;
    int ns = scandir(root, &seqs, filter_visible, alphasort);
    if (ns < 0) return cli_fail(cmd, "%s: %s", root, strerror(errno));
    int rc = 0;
    for (int s = 0; s < ns; s++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s/%s", root, seqs[s]->d_name, blur_dir);
        struct dirent **files;
        int nf = is_dir(sub) ? scandir(sub, &files, filter_png, alphasort) : -1;
        for (int f = 0; f < nf; f++) {
            if (!rc) {
                char *b = join(root, seqs[s]->d_name, blur_dir, files[f]->d_name);
                char *g = join(root, seqs[s]->d_name, "sharp", files[f]->d_name);
                struct stat st;
                if (!b || !g)
                    rc = cli_fail(cmd, "out of memory");
                else if (stat(g, &st))
                    rc = cli_fail(cmd, "%s has no sharp partner %s", b, g);
                else if (push(P, b, g))
                    rc = cli_fail(cmd, "out of memory");
                if (rc) free(b), free(g);
            }
            free(files[f]);
        }
        if (nf >= 0) free(files);
        free(seqs[s]);
    }
    free(seqs);
    if (!rc && P->n == 0)
        rc = cli_fail(cmd, "%s: no pairs found (expected %s/<sequence>/%s/*.png with %s/<sequence>/sharp/*.png)",
                      root, root, blur_dir, root);
    if (rc) pairs_free(P);
    return rc;
}

void pairs_free(pairs *P)
{
    for (int i = 0; i < P->n; i++) free(P->blur[i]), free(P->sharp[i]);
    free(P->blur), free(P->sharp);
    memset(P, 0, sizeof *P);
}

int dir_images(const char *cmd, const char *dir, char ***names, int *n)
{
    struct dirent **e;
    int k = scandir(dir, &e, filter_image, alphasort);
    if (k < 0) return cli_fail(cmd, "%s: %s", dir, strerror(errno));
    *names = calloc(k ? k : 1, sizeof **names);
    int rc = *names ? 0 : cli_fail(cmd, "out of memory");
    for (int i = 0; i < k; i++) {
        if (!rc && !((*names)[i] = strdup(e[i]->d_name))) rc = cli_fail(cmd, "out of memory");
        free(e[i]);
    }
    free(e);
    *n = rc ? 0 : k;
    if (rc) names_free(*names, k), *names = NULL;
    return rc;
}

void names_free(char **names, int n)
{
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

void pair_label(const char *blur_path, char *out, size_t n)
{
    /* back from the end: <file>, then <blur_dir>, then <seq> */
    const char *p = blur_path, *f = p + strlen(p);
    while (f > p && f[-1] != '/') f--;
    const char *b = f > p ? f - 1 : p;
    while (b > p && b[-1] != '/') b--;
    const char *q = b > p ? b - 1 : p;
    while (q > p && q[-1] != '/') q--;
    if (f == p || b == p || b - 1 <= q) snprintf(out, n, "%s", blur_path);
    else snprintf(out, n, "%.*s/%s", (int)(b - 1 - q), q, f);
}
