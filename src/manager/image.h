/* Images: the kernel image of --image-dir (registered as "default") and
 * disk images imported with qemu-img into DATA/images/NAME.qcow2. */
#pragma once

#include <jansson.h>

#include "manager.h"
#include "task.h"

/* Register (or refresh) DIR/image.json as image "default". Idempotent. */
int dv_image_register_dir(struct dv_mgr *m, const char *dir, struct dv_error *err);

struct dv_image_op {
        struct dv_mgr *m; /* the manager */
        char id[37];      /* the image being imported */
};

/* The image.import task; data is a struct dv_image_op (freed with free). */
void dv_image_task_import(struct dv_task *t, void *data);

/* Where an imported image lives (new string). */
char *dv_image_path(struct dv_mgr *m, const char *name);
