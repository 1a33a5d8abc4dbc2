/* Mesh's lwIP configuration.  lwIP runs inside meshd on the libuv loop thread only
 * (NO_SYS=1): one netif fed with decrypted tunnel packets, TCP terminated in process for
 * intercepted ports (SSH), userspace-mode forwarding and dialing.
 *
 * Throughput of one stream is bounded by window / RTT, so the receive window and send
 * buffer are 1 MiB with window scaling (Debian's Hurd build has 64 KiB). */
#ifndef MESH_LWIPOPTS_H
#define MESH_LWIPOPTS_H

/* ---- system ---- */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_TIMERS 1
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_NETIF_API 0
#define LWIP_RAND() ((u32_t)mesh_lwip_rand())
/* Leave htons() and friends to libc so our code can include <arpa/inet.h> beside lwIP;
 * lwIP's own byte swaps become compiler builtins (x86 is little-endian). */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1
#define lwip_htons(x) ((u16_t)__builtin_bswap16((u16_t)(x)))
#define lwip_htonl(x) ((u32_t)__builtin_bswap32((u32_t)(x)))

/* ---- memory: libc malloc for the heap and every pool ---- */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define MEMP_NUM_TCP_PCB 4096
#define MEMP_NUM_TCP_PCB_LISTEN 64
#define MEMP_NUM_TCP_SEG 8192
#define MEMP_NUM_PBUF 1024
#define MEMP_NUM_UDP_PCB 64
#define PBUF_POOL_SIZE 1024
#define PBUF_POOL_BUFSIZE 1536

/* ---- link: a point-to-point tunnel, no Ethernet, no ARP ---- */
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_HAVE_LOOPIF 0
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_SINGLE_NETIF 0
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0

/* ---- IP ---- */
#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define IP_FORWARD 0
#define IP_REASSEMBLY 0
#define IP_FRAG 0
#define LWIP_IPV6_FRAG 0
#define LWIP_IPV6_REASS 0
#define IPV6_FRAG_COPYHEADER 1
#define LWIP_IPV6_MLD 0
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_DHCP6 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_ND6_QUEUEING 0
#define LWIP_IPV6_NUM_ADDRESSES 3
#define LWIP_ICMP 1
#define LWIP_ICMP6 1
#define LWIP_RAW 0
#define LWIP_IGMP 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_DNS 0
#define LWIP_UDP 1
#define LWIP_UDPLITE 0

/* ---- TCP ---- */
#define LWIP_TCP 1
/* MSS for the largest tunnel MTU we allow (1420 - 40).  The MSS actually announced and
 * used is derived from the netif MTU (1280 by default) by LWIP_CALCULATE_EFF_SEND_MSS. */
#define TCP_MSS 1380
#define LWIP_CALCULATE_EFF_SEND_MSS 1
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 5 /* 65535 << 5 = 2 MiB maximum receive window */
#define TCP_WND (1024 * 1024)
#define TCP_SND_BUF (1024 * 1024)
#define TCP_SND_QUEUELEN 4096
#define TCP_SNDLOWAT (32 * 1024) /* must stay below 0xffff - 4 * TCP_MSS */
#define TCP_SNDQUEUELOWAT 256
#define LWIP_TCP_SACK_OUT 1
#define LWIP_TCP_MAX_SACK_NUM 4
#define TCP_QUEUE_OOSEQ 1
#define TCP_OOSEQ_MAX_BYTES (2 * 1024 * 1024)
#define TCP_OOSEQ_MAX_PBUFS 2048
#define TCP_LISTEN_BACKLOG 1
#define TCP_DEFAULT_LISTEN_BACKLOG 128
#define LWIP_TCP_KEEPALIVE 1
#define TCP_MAXRTX 12
#define TCP_SYNMAXRTX 6
#define LWIP_TCP_TIMESTAMPS 0
#define TCP_OVERSIZE TCP_MSS
#define LWIP_TCP_PCB_NUM_EXT_ARGS 0
#define LWIP_ALTCP 0

/* ---- checksums: always generated and checked (packets come from the network) ---- */
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_GEN_UDP 1
#define CHECKSUM_GEN_ICMP 1
#define CHECKSUM_GEN_ICMP6 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_TCP 1
#define CHECKSUM_CHECK_UDP 1
#define CHECKSUM_CHECK_ICMP 1
#define CHECKSUM_CHECK_ICMP6 1
#define LWIP_CHECKSUM_ON_COPY 0

/* ---- statistics and debugging ---- */
#define LWIP_STATS 0
#define LWIP_STATS_DISPLAY 0
#define LWIP_DEBUG 0
#define LWIP_PERF 0

#ifndef __ASSEMBLER__
#include <stdint.h>
uint32_t mesh_lwip_rand(void);
#endif

#endif
