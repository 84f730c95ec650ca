/* kinerjad — this node's durable consumers (cluster_feed.c), started by
 * cluster.c. */
#ifndef KJ_CLUSTER_FEED_H
#define KJ_CLUSTER_FEED_H

#include "js_state.h"

/* cluster_feed.c: the feeds of this node's units (at kj_cluster_new), and the
 * consumer thread's body (pthread_create's; arg is the kj_cluster). */
void kj_cluster_feeds_init(kj_cluster *cl);
void *kj_cluster_consumer_main(void *arg);

#endif
