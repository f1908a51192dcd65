/* The memory-overcommit controller (docs/qos.md "Ballooning"): every few
 * seconds, for each connected host, it compares the memory the VMs use
 * with what the host gives to VMs and moves virtio-balloon targets, by
 * shares, between each VM's floor (its reservation, and what Tools says
 * the guest uses plus a margin) and its size (dv_balloon_decide). With
 * overcommit off it deflates every balloon. Runs on the cron thread. */
#pragma once

#include "manager.h"

#define DV_OVERCOMMIT_EVERY_MS 3000

void dv_overcommit_tick(struct dv_mgr *m);
