/* SPDX-License-Identifier: MIT */
/*
 * libqkit: launch and manage QEMU virtual machines.
 *
 * This header includes every public header. Each concern has its own
 * header under <qkit/...>; include just the ones you use if you prefer.
 *
 * Conventions, everywhere in the API:
 *  - Fallible functions return 0 (or a non-negative result) on success and a
 *    negative errno on failure, and fill *err with a message naming what was
 *    wrong (see <qkit/error.h>). Pass NULL for err to ignore the message.
 *  - Every *_free() accepts NULL.
 *  - The library never prints to a terminal and never exits the process.
 *    Diagnostics go to the log handler (see <qkit/log.h>).
 */
#ifndef QKIT_QKIT_H
#define QKIT_QKIT_H

#include <qkit/version.h>
#include <qkit/error.h>
#include <qkit/console.h>
#include <qkit/exec.h>
#include <qkit/harness.h>
#include <qkit/initramfs.h>
#include <qkit/kernel.h>
#include <qkit/log.h>
#include <qkit/qmp.h>
#include <qkit/run.h>
#include <qkit/spec.h>
#include <qkit/state.h>
#include <qkit/vm.h>

#endif
