/* SPDX-License-Identifier: MIT */
#include <qkit/version.h>

const char *qk_version(void)
{
	return QK_VERSION;
}
