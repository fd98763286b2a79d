/* json.h - a small, strict reader for flat JSON objects, enough for the control port.
 *
 * fs_json_each() walks the members of one object and calls fn(key, value, kind, ctx) for
 * each, with the value as text: strings unescaped (\uXXXX for ASCII only), numbers and
 * true/false as written, null as "". A member whose value is an object is walked
 * recursively only when its key is "faults" (the shape GET /faults returns); other nested
 * values are an error. Keys and values are bounded at FS_JSON_TEXT_MAX bytes.
 * Return convention: 0, or -1 with a reason in err (the callback's -1 stops the walk).
 */
#ifndef FS_JSON_H
#define FS_JSON_H

#include <stddef.h>

#define FS_JSON_TEXT_MAX 256

enum fs_json_kind { FS_JSON_STRING, FS_JSON_NUMBER, FS_JSON_BOOL, FS_JSON_NULL };

typedef int fs_json_fn(const char *key, const char *value, int kind, void *ctx, char *err,
                       size_t errlen);

int fs_json_each(const char *s, size_t len, fs_json_fn *fn, void *ctx, char *err, size_t errlen);

#endif
