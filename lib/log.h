/* SPDX-License-Identifier: MIT */
#ifndef QKIT_LIB_LOG_H
#define QKIT_LIB_LOG_H

#include <qkit/log.h>

/* Hand a message to the program's handler, if it wants this level. */
void qk_log(qk_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) qk_log(QK_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) qk_log(QK_LOG_WARNING, __VA_ARGS__)
#define log_info(...) qk_log(QK_LOG_INFO, __VA_ARGS__)
#define log_debug(...) qk_log(QK_LOG_DEBUG, __VA_ARGS__)

#endif
