/* test_net_backend.c — net_set_backend in the double build (the one the unit tests use): the
 * oneDNN backend exists only in the float build (lib/nn/dnnl_net.h), so selecting it here must
 * fail with a message and leave the OpenBLAS backend in place; tests/f32/test_dnnl.c checks the
 * backend itself against OpenBLAS in the float build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/rng.h"
#include "nn/net.h"
#include "nn/paramset.h"

static void test_dnnl_refused_in_double(void **state)
{
    (void)state;
    net n;
    paramset ps = {0};
    nb_error err = {0};
    assert_int_equal(net_build(&n, BACKBONE_CONVNET_SMALL, 2, 4, 1, 12, 12, 2, &ps, &err), 0);
    paramset_alloc(&ps);
    rng_t rng;
    rng_seed(&rng, 1);
    net_bind(&n, &rng);
    assert_int_equal(net_set_backend(&n, NET_BACKEND_DNNL, &err), -1);
    assert_non_null(strstr(err.msg, "float build"));
    assert_int_equal(n.backend, NET_BACKEND_BLAS);
    assert_null(n.backend_state);
    assert_int_equal(net_set_backend(&n, NET_BACKEND_BLAS, &err), 0);
    real x[2 * 12 * 12] = {0};
    assert_non_null(net_forward(&n, x, 2, 1));
    net_free(&n);
    paramset_free(&ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_dnnl_refused_in_double)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
