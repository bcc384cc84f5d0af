#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <omp.h>
int main(){ size_t n=(size_t)256<<20; float*a=aligned_alloc(64,n*4); for(size_t i=0;i<n;i++)a[i]=i&7;
 double best=1e9; for(int r=0;r<5;r++){ struct timespec t0,t1; clock_gettime(CLOCK_MONOTONIC,&t0); float s=0;
 #pragma omp parallel for reduction(+:s)
 for(size_t i=0;i<n;i++) s+=a[i];
 clock_gettime(CLOCK_MONOTONIC,&t1); double dt=(t1.tv_sec-t0.tv_sec)+(t1.tv_nsec-t0.tv_nsec)*1e-9; if(dt<best)best=dt; if(s==1)puts("x");}
 printf("%.2f GB/s\n", n*4/best/1e9); }
