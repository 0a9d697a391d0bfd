/*
 * assets.h — the dashboard page's static files, built into the binary.
 *
 * The page (serve/www/index.html, app.js, style.css) and its chart library
 * (uPlot's dist/uPlot.iife.min.js and dist/uPlot.min.css, installed from the
 * npm registry into serve/www/node_modules by deploy/install-deps.sh) are
 * turned into a C source in the build tree at build time by
 * serve/embed_assets.cmake; nothing generated is committed. So the server
 * needs no files on disk and no other origin: the page, its script, its
 * styles and uPlot are all answered by cscflow itself.
 *
 * URLs:
 *   /                              index.html   text/html; charset=utf-8
 *   /assets/app.js                 the page's script
 *   /assets/style.css              the page's styles
 *   /assets/uPlot.iife.min.js      uPlot
 *   /assets/uPlot.min.css          uPlot's styles
 * Nothing else is an asset (no directory listing, no path resolution: the URL
 * is compared whole, so "/assets/../x" or "/assets/app.js/" is not found).
 *
 * The assets are public: the page holds no data, which it reads from the
 * token-protected API once the user has signed in.
 */
#ifndef CSCFLOW_ASSETS_H
#define CSCFLOW_ASSETS_H

#include <stddef.h>

struct asset {
  const char *path;         /* the URL path it is served under, e.g. "/assets/app.js" */
  const char *content_type; /* for the Content-Type header, with charset for text */
  const unsigned char *data; /* static storage; not NUL-terminated */
  size_t len;
};

/* The asset served at url (a path, without query string, as libmicrohttpd
 * passes it to the handler), or NULL when there is none. The result points
 * into static storage: never freed, safe from any thread. */
const struct asset *asset_find(const char *url);

#endif
