/* hop.c - removing and adding connection-management field lines in place.
 *
 * Cost: a field line is cut with lb_buf_cut, which moves the bytes before it (at most the
 * front bytes and the head) forward; lines are cut first to last, so the fields still to
 * cut, which follow, never move. An added line then goes into the room the cuts left before
 * the data (lb_buf_insert), again moving only the head. A head with no connection field and
 * nothing to add costs one pass over the kinds the parser gave its fields (no name is
 * compared here) and no write at all.
 */
#include "hop.h"

int lb_hop_can_strip(const lb_http_header *h, size_t num)
{
    for (size_t i = 0; i < num; i++)
        if (h[i].kind == LB_FIELD_CONNECTION &&
            (lb_http_connection_options(h[i].value, h[i].value_len) & LB_CONN_OTHER))
            return 0;
    return 1;
}

size_t lb_hop_edit(lb_buf *b, size_t front, size_t head_len, const lb_http_header *h, size_t num,
                   const char *add, size_t add_len)
{
    for (size_t i = 0; i < num; i++) {
        if (!(LB_FIELD_BIT(h[i].kind) & LB_FIELDS_HOP))
            continue;
        size_t from, n = lb_http_field_line(lb_buf_head(b), lb_buf_len(b), &h[i], &from);
        lb_buf_cut(b, from, n);
        head_len -= n;
    }
    if (add && lb_buf_insert(b, front + head_len - 2, add, add_len) == 0)
        head_len += add_len;
    return head_len;
}
