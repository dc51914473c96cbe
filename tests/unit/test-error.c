/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <qkit/error.h>

static void set_first_error_wins(void **state)
{
	qk_error *err = NULL;
	assert_int_equal(qk_error_set(&err, QK_ERR_INVALID, 0, "memory: \"%s\" is not a size", "lots"), -EINVAL);
	assert_int_equal(qk_error_set(&err, QK_ERR_SYSTEM, ENOENT, "second"), -ENOENT);
	assert_string_equal(qk_error_message(err), "memory: \"lots\" is not a size");
	assert_int_equal(qk_error_get_kind(err), QK_ERR_INVALID);
	assert_int_equal(qk_error_count(err), 1);
	qk_error_free(err);
}

static void set_with_null_only_returns(void **state)
{
	assert_int_equal(qk_error_set(NULL, QK_ERR_SYSTEM, EACCES, "ignored"), -EACCES);
}

static void add_collects_every_problem(void **state)
{
	qk_error *err = NULL;
	qk_error_add(&err, QK_ERR_INVALID, "devices[0]: id \"a\" is used twice");
	qk_error_add(&err, QK_ERR_INVALID, "cpus: %d is not in 1..%d", 0, 4096);
	assert_int_equal(qk_error_count(err), 2);
	assert_string_equal(qk_error_problem(err, 1), "cpus: 0 is not in 1..4096");
	assert_string_equal(qk_error_message(err),
			    "devices[0]: id \"a\" is used twice\ncpus: 0 is not in 1..4096");
	assert_null(qk_error_problem(err, 2));
	qk_error_free(err);
}

static void prepend_adds_context_to_each_problem(void **state)
{
	qk_error *err = NULL;
	qk_error_add(&err, QK_ERR_INVALID, "one");
	qk_error_add(&err, QK_ERR_INVALID, "two");
	assert_string_equal(qk_error_message(err), "one\ntwo");
	qk_error_prepend(&err, "%s: ", "vm.yaml");
	assert_string_equal(qk_error_message(err), "vm.yaml: one\nvm.yaml: two");
	qk_error_free(err);

	qk_error *none = NULL;
	qk_error_prepend(&none, "context: ");
	assert_null(none);
}

static void system_error_keeps_errno_and_qmp_class(void **state)
{
	qk_error *err = NULL;
	qk_error_set(&err, QK_ERR_QMP, 0, "device_add: Duplicate ID");
	qk_error_set_qmp_class(&err, "GenericError");
	assert_string_equal(qk_error_qmp_class(err), "GenericError");
	assert_int_equal(qk_error_errno(err), 0);
	qk_error_free(err);

	err = NULL;
	qk_error_set(&err, QK_ERR_SYSTEM, ENOENT, "open /nope");
	assert_int_equal(qk_error_errno(err), ENOENT);
	assert_null(qk_error_qmp_class(err));
	qk_error_free(err);
}

static void propagate_moves_or_frees(void **state)
{
	qk_error *dst = NULL, *src = NULL;
	qk_error_set(&src, QK_ERR_TIMEOUT, ETIMEDOUT, "first");
	qk_error_propagate(&dst, &src);
	assert_null(src);
	assert_string_equal(qk_error_message(dst), "first");
	qk_error_set(&src, QK_ERR_TIMEOUT, ETIMEDOUT, "second");
	qk_error_propagate(&dst, &src);
	assert_null(src);
	assert_string_equal(qk_error_message(dst), "first");
	qk_error_free(dst);
	qk_error_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_first_error_wins),
		cmocka_unit_test(set_with_null_only_returns),
		cmocka_unit_test(add_collects_every_problem),
		cmocka_unit_test(prepend_adds_context_to_each_problem),
		cmocka_unit_test(system_error_keeps_errno_and_qmp_class),
		cmocka_unit_test(propagate_moves_or_frees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
