/* httpd_status.c -- the live status page of httpd: /_status, an HTML page
 * (uptime, connections, requests, and requests per second over the last
 * minute as an inline SVG chart) that refreshes itself every second from
 * /_status.json. Uses only the public API of httpd.h. */
#include <stdio.h>

#include "usock/httpd.h"

int usock__httpd_status(const usock_httpd_req *req, usock_httpd_res *res);
int usock__httpd_status_json(const usock_httpd_req *req, usock_httpd_res *res);

int usock__httpd_status_json(const usock_httpd_req *req, usock_httpd_res *res)
{
    usock_httpd_stats st;
    usock_httpd_stats_get(req->udata, &st);
    char b[1024]; /* 60 numbers of at most 10 digits and the rest */
    int n = snprintf(b, sizeof b,
                     "{\"uptime\": %.3f, \"connections_open\": %llu, "
                     "\"connections_total\": %llu, \"requests\": %llu, \"workers\": %d, "
                     "\"bytes_held\": %llu, \"rps\": [",
                     st.uptime, (unsigned long long)st.conns_open,
                     (unsigned long long)st.conns_total, (unsigned long long)st.requests,
                     st.workers, (unsigned long long)st.bytes_held);
    for (int i = 0; i < 60 && n > 0 && (size_t)n < sizeof b; i++)
        n += snprintf(b + n, sizeof b - (size_t)n, "%s%u", i ? ", " : "", (unsigned)st.rps[i]);
    if (n > 0 && (size_t)n < sizeof b)
        n += snprintf(b + n, sizeof b - (size_t)n, "]}\n");
    if (n <= 0 || (size_t)n >= sizeof b)
        return USOCK_ENOSPC;
    usock_httpd_header(res, "Cache-Control", "no-store");
    return usock_httpd_respond(res, 200, "application/json", b, (size_t)n);
}

#define STATUS_PAGE \
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"\
    "<title>usock status</title>\n<style>body{font:14px sans-serif;margin:2em}"\
    "td{padding:0 1em 0 0}svg{border:1px solid #ccc;background:#fafafa}</style>\n"\
    "</head><body>\n<h1>usock status</h1>\n<table>\n"\
    "<tr><td>uptime</td><td id=\"up\">%.0f s</td></tr>\n"\
    "<tr><td>connections open</td><td id=\"open\">%llu</td></tr>\n"\
    "<tr><td>connections total</td><td id=\"total\">%llu</td></tr>\n"\
    "<tr><td>requests</td><td id=\"req\">%llu</td></tr>\n</table>\n"\
    "<h2>requests per second, last minute</h2>\n"\
    "<svg id=\"chart\" width=\"600\" height=\"150\" viewBox=\"0 0 600 150\">"\
    "<polyline id=\"line\" fill=\"none\" stroke=\"#36c\" stroke-width=\"2\" points=\"%s\"/>"\
    "<text id=\"max\" x=\"4\" y=\"14\" font-size=\"12\">max %u/s</text></svg>\n"\
    "<script>\n"\
    "function pts(r){var m=Math.max(1,Math.max.apply(null,r));"\
    "return [r.map(function(v,i){return (i*10)+','+(145-v*140/m).toFixed(1)}).join(' '),m];}\n"\
    "function tick(){fetch('/_status.json',{cache:'no-store'}).then(function(x){return x.json()})"\
    ".then(function(s){document.getElementById('up').textContent=Math.round(s.uptime)+' s';"\
    "document.getElementById('open').textContent=s.connections_open;"\
    "document.getElementById('total').textContent=s.connections_total;"\
    "document.getElementById('req').textContent=s.requests;var p=pts(s.rps);"\
    "document.getElementById('line').setAttribute('points',p[0]);"\
    "document.getElementById('max').textContent='max '+p[1]+'/s';}).catch(function(){});}\n"\
    "setInterval(tick,1000);\n</script>\n</body></html>\n"

int usock__httpd_status(const usock_httpd_req *req, usock_httpd_res *res)
{
    if (req->path.n != 8 && !(req->path.n == 9 && req->path.p[8] == '/'))
        return usock_httpd_respond_error(res, 404);
    usock_httpd_stats st;
    usock_httpd_stats_get(req->udata, &st);
    char points[60 * 16] = "";
    unsigned max = 1;
    for (int i = 0; i < 60; i++)
        if (st.rps[i] > max)
            max = st.rps[i];
    size_t k = 0;
    for (int i = 0; i < 60; i++)
        k += (size_t)snprintf(points + k, sizeof points - k, "%s%d,%.1f", i ? " " : "", i * 10,
                              145.0 - st.rps[i] * 140.0 / max);
    char b[4096]; /* the page is about 2.5 KiB with its numbers */
    int n = snprintf(b, sizeof b, STATUS_PAGE, st.uptime, (unsigned long long)st.conns_open,
                     (unsigned long long)st.conns_total, (unsigned long long)st.requests, points,
                     max);
    if (n <= 0 || (size_t)n >= sizeof b)
        return USOCK_ENOSPC;
    usock_httpd_header(res, "Cache-Control", "no-store");
    return usock_httpd_respond(res, 200, "text/html; charset=utf-8", b, (size_t)n);
}
